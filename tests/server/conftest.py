"""Server test helpers: a client with the lifespan running, and engines injected by tests."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bgbye.engines.base import Prediction
from bgbye.remover import Remover
from bgbye.server.app import create_app
from bgbye.server.service import Backend
from bgbye.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def backend_of(client: TestClient) -> Backend:
    backend: Backend = client.app.state.backend  # type: ignore[attr-defined]
    return backend


class FakeEngine:
    """A stand-in engine for what a test must control: timing, failure or provider info."""

    def __init__(self, name: str, *, info: dict[str, Any] | None = None,
                 gate: threading.Event | None = None, fail: Exception | None = None):
        self.name = name
        self.label = f"{name} (test)"
        self.info = info or {}
        self.gate = gate
        self.fail = fail
        self.calls = 0

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(30), "test gate never opened"
        if self.fail is not None:
            raise self.fail
        alpha = np.zeros(rgb.shape[:2], np.uint8)
        h, w = alpha.shape
        alpha[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
        return Prediction(alpha=alpha, info={"engine": self.name, **self.info})


def inject(client: TestClient, ref: str, engine: FakeEngine) -> None:
    backend = backend_of(client)
    backend._removers[ref] = Remover(engine, backend.settings)


def open_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Every error is JSON {"error": {"code", "message"}} with no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error
