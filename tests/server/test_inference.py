"""The bounded inference pool: full queue -> 503 + Retry-After; work stays off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient

from bgbye.monitoring import Metrics
from bgbye.server.app import create_app
from bgbye.server.errors import QueueFullError
from bgbye.server.inference import InferencePool
from bgbye.settings import Settings
from tests.server.conftest import FakeEngine, assert_error, inject


def test_pool_refuses_beyond_capacity_and_waits_when_asked() -> None:
    async def scenario() -> None:
        pool = InferencePool(threads=1, queue_size=1)
        gate = threading.Event()
        running = [asyncio.create_task(pool.run(gate.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert pool.in_flight == 2
        with pytest.raises(QueueFullError) as info:
            await pool.run(lambda: None)
        assert info.value.retry_after >= 1
        waiting = asyncio.create_task(pool.run(lambda: "job item", wait=True))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        gate.set()
        assert await waiting == "job item"
        await asyncio.gather(*running)
        assert pool.in_flight == 0
        pool.shutdown()

    asyncio.run(scenario())


def test_a_cancelled_caller_keeps_its_slot_until_the_work_ends() -> None:
    async def scenario() -> None:
        pool = InferencePool(threads=1, queue_size=0)
        gate = threading.Event()
        task = asyncio.create_task(pool.run(gate.wait))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.05)
        assert pool.in_flight == 1  # the thread is still busy
        with pytest.raises(QueueFullError):
            await pool.run(lambda: None)
        gate.set()
        await asyncio.sleep(0.05)
        assert pool.in_flight == 0
        pool.shutdown()

    asyncio.run(scenario())


def rejections(client: TestClient) -> float:
    metrics: Metrics = client.app.state.metrics  # type: ignore[attr-defined]
    return metrics.value("bgbye_queue_rejections_total")


def test_full_server_answers_503_with_retry_after(settings: Settings, png_bytes: bytes) -> None:
    settings.threads, settings.queue_size = 1, 0
    gate = threading.Event()
    with TestClient(create_app(settings)) as client:
        inject(client, "slow", FakeEngine("slow", gate=gate))
        results: list[int] = []
        before = rejections(client)
        first = threading.Thread(target=lambda: results.append(client.post(
            "/v1/remove", data={"model": "slow"},
            files={"image": ("a.png", png_bytes, "image/png")}).status_code))
        first.start()
        deadline = time.monotonic() + 10
        while client.app.state.backend.pool.in_flight == 0:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # The event loop is free while the worker is busy: health answers at once.
        assert client.get("/healthz").status_code == 200
        r = client.post("/v1/remove", files={"image": ("a.png", png_bytes, "image/png")})
        assert_error(r, 503, "queue_full")
        assert int(r.headers["retry-after"]) >= 1
        gate.set()
        first.join(10)
        assert results == [200]
        assert rejections(client) == before + 1
