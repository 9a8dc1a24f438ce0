"""Online providers that hang, drop the connection, answer garbage or fail: the client gets a
clear JSON error within the timeout, a fallback list falls back, the server stays up."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bgbye.server.app import create_app
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.fakes import PROVIDERS, FakeProvider, running_fake
from tests.reliability.conftest import assert_alive
from tests.server.conftest import assert_error

TIMEOUT_S = 1.0

# mode -> (status, code) our server answers
FAULTS = {
    "slow": (504, "provider_timeout"),
    "drop": (502, "provider_unavailable"),
    "garbage": (502, "provider_bad_response"),
    "500": (502, "provider_unavailable"),
}


# remove.bg in the default run; all three under the slow marker.
@pytest.fixture(params=[p if p == "removebg" else pytest.param(p, marks=pytest.mark.slow)
                        for p in PROVIDERS])
def provider(request: pytest.FixtureRequest, settings: Settings
             ) -> Iterator[tuple[str, FakeProvider, TestClient]]:
    with running_fake(request.param, delay=TIMEOUT_S * 6) as fake:
        for name, value in fake.settings_kwargs().items():
            setattr(settings, name, value)
        settings.provider_timeout_seconds = TIMEOUT_S
        with TestClient(create_app(settings)) as client:
            yield request.param, fake, client


@pytest.mark.parametrize("mode", list(FAULTS))
def test_provider_fault_is_a_clear_error(provider: tuple[str, FakeProvider, TestClient],
                                         mode: str) -> None:
    name, fake, client = provider
    fake.set_mode(mode)
    status, code = FAULTS[mode]
    start = time.perf_counter()
    r = client.post("/v1/remove", data={"provider": name},
                    files={"image": ("a.png", image_bytes("PNG"), "image/png")})
    elapsed = time.perf_counter() - start
    error = assert_error(r, status, code)
    assert len(error["message"]) > 20 and fake.key not in error["message"]
    # Bounded: the hang costs at most the timeout per attempt (a few retries for drops/500s),
    # never the fake's full 6x-timeout delay.
    assert elapsed < TIMEOUT_S * 5 + 10
    fake.set_mode("ok")
    assert_alive(client)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["slow", "drop", "garbage"])
def test_fallback_list_survives_a_broken_provider(
        provider: tuple[str, FakeProvider, TestClient], mode: str) -> None:
    name, fake, client = provider
    fake.set_mode(mode)
    r = client.post("/v1/remove", data={"provider": f"{name},local"},
                    headers={"Accept": "application/json"},
                    files={"image": ("a.png", image_bytes("PNG"), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["mocked"] is False


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["slow", "drop", "garbage"])
def test_broken_provider_in_a_job_fails_items_with_reasons(
        provider: tuple[str, FakeProvider, TestClient], mode: str) -> None:
    name, fake, client = provider
    fake.set_mode(mode)
    files = [("images", (f"{i}.png", image_bytes("PNG"), "image/png")) for i in range(2)]
    r = client.post("/v1/jobs", data={"provider": name}, files=files)
    assert r.status_code == 202
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{r.json()['id']}").json())["state"] not in (
            "done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["state"] == "failed" and job["reason"]
    assert {e["error"]["code"] for e in job["errors"]} == {FAULTS[mode][1]}
