"""Provider test helpers: a fake clock, image bytes, and clients pointed at running fakes."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bgbye.engines.providers import client_class, registry
from bgbye.engines.providers.base import ProviderClient, RetryPolicy
from tests.conftest import make_image
from tests.fakes import FakeProvider


class FakeClock:
    """Records sleeps instead of sleeping; ``now`` advances by what was slept."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def jpeg_bytes(rgb: np.ndarray, **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, **save)
    return buf.getvalue()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def photo() -> tuple[np.ndarray, bytes]:
    """A synthetic photo as decoded pixels and as the JPEG file they came from."""
    data = jpeg_bytes(make_image(96, 72, seed=3))
    from bgbye import imageio

    return imageio.decode(data), data


ClientFactory = Callable[..., ProviderClient]


@pytest.fixture
def client_for(clock: FakeClock) -> Iterator[ClientFactory]:
    """``client_for(fake, timeout=.., key=.., **client_kwargs)`` -> the real client class."""
    made: list[ProviderClient] = []

    def make(fake: FakeProvider, *, key: str | None = None, timeout: float = 10.0,
             retry: RetryPolicy | None = None, **kwargs: Any) -> ProviderClient:
        cls = client_class(fake.name)
        client = cls(api_key=key or fake.key, base_url=fake.url, timeout=timeout,
                     retry=retry or RetryPolicy(), clock=clock, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# The variables every registered client declares (and the prefixed spelling of its key).
KEY_VARIABLES = tuple(v for cls in registry().values()
                      for v in (cls.key_env, f"BGBYE_{cls.key_env}", cls.url_env))


@pytest.fixture(autouse=True)
def _no_real_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real keys in the environment must never reach these tests."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
