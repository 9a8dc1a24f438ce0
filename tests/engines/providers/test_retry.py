"""Retries, backoff, Retry-After and timeouts, on a fake clock: no test sleeps for real."""

from __future__ import annotations

import email.utils
import socket

import httpx
import numpy as np
import pytest

from bgbye.engines.providers.base import RetryPolicy
from bgbye.engines.providers.errors import (
    ProviderBadResponseError,
    ProviderCreditsError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from bgbye.engines.providers.removebg import RemoveBgClient
from tests.engines.providers.conftest import ClientFactory, FakeClock
from tests.fakes import PROVIDERS, ellipse_alpha, running_fake

Photo = tuple[np.ndarray, bytes]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_5xx_backs_off_exponentially_then_succeeds(
    provider: str, client_for: ClientFactory, clock: FakeClock, photo: Photo
) -> None:
    rgb, data = photo
    with running_fake(provider, mode="500", times=2) as fake:
        pred = client_for(fake).predict(rgb, source=data)
        assert len(fake.requests) == 3
    assert clock.sleeps == [0.5, 1.0]
    assert pred.info["attempts"] == 3
    np.testing.assert_array_equal(pred.alpha, ellipse_alpha(96, 72))


def test_5xx_gives_up_after_max_attempts(client_for: ClientFactory, clock: FakeClock,
                                         photo: Photo) -> None:
    rgb, data = photo
    policy = RetryPolicy(max_attempts=4, backoff_base=1.0, backoff_max=3.0)
    with running_fake("removebg", mode="500") as fake:
        with pytest.raises(ProviderUnavailableError, match="after 4 attempt"):
            client_for(fake, retry=policy).predict(rgb, source=data)
        assert len(fake.requests) == 4
    assert clock.sleeps == [1.0, 2.0, 3.0]  # capped at backoff_max


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_waits_exactly_retry_after_not_a_backoff(
    provider: str, client_for: ClientFactory, clock: FakeClock, photo: Photo
) -> None:
    rgb, data = photo
    with running_fake(provider, mode="429", times=1, retry_after=7) as fake:
        pred = client_for(fake).predict(rgb, source=data)
        assert len(fake.requests) == 2
    assert clock.sleeps == [7.0]
    assert pred.info["attempts"] == 2


def test_429_every_time_raises_with_the_wait(client_for: ClientFactory, clock: FakeClock,
                                             photo: Photo) -> None:
    rgb, data = photo
    with running_fake("removebg", mode="429", retry_after=3) as fake:
        with pytest.raises(ProviderRateLimitError) as info:
            client_for(fake).predict(rgb, source=data)
        assert len(fake.requests) == 3
    assert clock.sleeps == [3.0, 3.0]
    assert info.value.retry_after == 3
    assert info.value.http_status == 429


def test_429_longer_than_our_patience_is_not_waited(client_for: ClientFactory, clock: FakeClock,
                                                    photo: Photo) -> None:
    rgb, data = photo
    with running_fake("clipdrop", mode="429", retry_after=31) as fake:
        with pytest.raises(ProviderRateLimitError, match="retry in 31 s"):
            client_for(fake, retry=RetryPolicy(max_retry_after=30)).predict(rgb, source=data)
        assert len(fake.requests) == 1
    assert clock.sleeps == []


def test_retry_after_as_http_date_and_ratelimit_reset(clock: FakeClock) -> None:
    client = RemoveBgClient(api_key="k", base_url="http://127.0.0.1:9", clock=clock)
    date = email.utils.formatdate(clock.now() + 42, usegmt=True)
    assert client._retry_after(httpx.Headers({"Retry-After": date})) == pytest.approx(42, abs=1)
    reset = httpx.Headers({"X-RateLimit-Reset": str(int(clock.now()) + 12)})
    assert client._retry_after(reset) == pytest.approx(12)
    assert client._retry_after(httpx.Headers({"Retry-After": "-5"})) == 0.0
    assert client._retry_after(httpx.Headers({})) is None
    client.close()


@pytest.mark.parametrize("mode", ["402", "garbage"])
def test_errors_that_would_repeat_are_not_retried(
    mode: str, client_for: ClientFactory, clock: FakeClock, photo: Photo
) -> None:
    rgb, data = photo
    expected = ProviderCreditsError if mode == "402" else ProviderBadResponseError
    with running_fake("photoroom", mode=mode) as fake:
        with pytest.raises(expected):
            client_for(fake).predict(rgb, source=data)
        assert len(fake.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_dropped_connection_is_retried(
    provider: str, client_for: ClientFactory, clock: FakeClock, photo: Photo
) -> None:
    rgb, data = photo
    with running_fake(provider, mode="drop", times=1) as fake:
        pred = client_for(fake).predict(rgb, source=data)
        assert len(fake.requests) == 2
    assert clock.sleeps == [0.5]
    assert pred.info["attempts"] == 2


def test_dropped_every_time_says_the_provider_is_unreachable(
    client_for: ClientFactory, clock: FakeClock, photo: Photo
) -> None:
    rgb, data = photo
    with running_fake("removebg", mode="drop") as fake, \
            pytest.raises(ProviderUnavailableError) as info:
        client_for(fake).predict(rgb, source=data)
    assert "Could not reach remove.bg" in info.value.message
    assert "BGBYE_REMOVEBG_URL" in info.value.message
    assert clock.sleeps == [0.5, 1.0]


def test_connection_refused_is_retried_then_reported(clock: FakeClock, photo: Photo) -> None:
    rgb, data = photo
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RemoveBgClient(api_key="k", base_url=f"http://127.0.0.1:{port}/v1.0", clock=clock)
    with pytest.raises(ProviderUnavailableError, match=r"Could not reach remove\.bg"):
        client.predict(rgb, source=data)
    assert clock.sleeps == [0.5, 1.0]
    client.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_slow_provider_times_out_without_retrying(
    provider: str, client_for: ClientFactory, clock: FakeClock, photo: Photo
) -> None:
    rgb, data = photo
    with running_fake(provider, mode="slow", delay=30) as fake:
        with pytest.raises(ProviderTimeoutError) as info:
            client_for(fake, timeout=0.2).predict(rgb, source=data)
        assert len(fake.requests) == 1
    assert info.value.http_status == 504
    assert "did not answer within the timeout" in info.value.message
    assert clock.sleeps == []


def test_slow_but_within_timeout_succeeds(client_for: ClientFactory, photo: Photo) -> None:
    rgb, data = photo
    with running_fake("clipdrop", mode="slow", delay=0.1) as fake:
        pred = client_for(fake, timeout=5).predict(rgb, source=data)
    np.testing.assert_array_equal(pred.alpha, ellipse_alpha(96, 72))
