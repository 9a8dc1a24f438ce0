"""A running fake provider: state (mode, credits, rate limit), the request log, and its address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.fakes.server import MODES, FakeHTTPServer, FakeRequest, Handler, Reply, _RequestHandler


@dataclass(frozen=True)
class ProviderWiring:
    handler: Handler
    url_suffix: str  # the real base URL's path: remove.bg's is /v1.0


class FakeProvider:
    """One fake service on a free loopback port. Unpacks as ``(base_url, key)``.

    ``mode`` applies after authentication: ``ok``; ``402``, ``429`` (with ``Retry-After:
    retry_after``), ``500``: the provider's documented error; ``slow``: answer after ``delay``
    seconds; ``drop``: close the connection without answering; ``garbage``: 200 with a body that
    is not an image. ``times=N`` applies the mode to the next N requests only, then ``ok``.
    """

    def __init__(self, name: str, wiring: ProviderWiring, *, key: str | None = None,
                 mode: str = "ok", times: int | None = None, retry_after: float = 2,
                 delay: float = 2.0, credits: float = 100.0):
        self.name = name
        self.wiring = wiring
        self.key = key or f"test-{name}-key-0123456789"
        self.retry_after = retry_after
        self.delay = delay
        self.credits = credits  # an account balance: 402 once spent
        self.ratelimit_limit = 500
        self.ratelimit_remaining = 500
        self.requests: list[FakeRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.set_mode(mode, times=times)
        self._server = FakeHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._server.fake = self
        # A short poll interval makes shutdown (and so every test using a fake) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name=f"fake-{name}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.wiring.url_suffix}"

    def __iter__(self) -> Iterator[str]:
        return iter((self.url, self.key))

    def env(self) -> dict[str, str]:
        """Environment variables that point bgbye at this fake."""
        from bgbye.engines.providers import client_class

        cls = client_class(self.name)  # the variables the client class declares
        return {cls.url_env: self.url, cls.key_env: self.key}

    def settings_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Settings(...)`` that point bgbye at this fake (see
        :func:`configured` to point one Settings at several fakes)."""
        return {"provider_urls": {self.name: self.url}, "provider_keys": {self.name: self.key}}

    def set_mode(self, mode: str, *, times: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            self.mode, self.times = mode, times

    def take_mode(self) -> str:
        """The mode for this request (uses up one of ``times``)."""
        with self._lock:
            if self.mode == "ok" or self.times is None:
                return self.mode
            if self.times > 0:
                self.times -= 1
                return self.mode
            return "ok"

    def wait(self, seconds: float) -> None:
        """Sleep that ends early when the fake stops, so slow handlers never hang a test run."""
        self._stop.wait(seconds)

    def charge(self, credits: float) -> bool:
        with self._lock:
            if self.credits < credits:
                return False
            self.credits -= credits
            self.ratelimit_remaining = max(0, self.ratelimit_remaining - 1)
            return True

    def dispatch(self, request: FakeRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        return self.wiring.handler(self, request)

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _wirings() -> dict[str, ProviderWiring]:
    from tests.fakes import clipdrop, photoroom, removebg

    return {
        "removebg": ProviderWiring(removebg.handle, "/v1.0"),
        "clipdrop": ProviderWiring(clipdrop.handle, ""),
        "photoroom": ProviderWiring(photoroom.handle, ""),
    }


def configured(settings: Any, *fakes: FakeProvider, **keys: str) -> Any:
    """A copy of ``settings`` pointing at ``fakes``; ``keys`` override a provider's key."""
    provider_keys = dict(settings.provider_keys)
    provider_urls = dict(settings.provider_urls)
    for fake in fakes:
        provider_keys[fake.name] = fake.key
        provider_urls[fake.name] = fake.url
    provider_keys.update(keys)
    return settings.model_copy(update={"provider_keys": provider_keys,
                                       "provider_urls": provider_urls})


@contextmanager
def running_fake(name: str, mode: str = "ok", **kwargs: Any) -> Iterator[FakeProvider]:
    """``with running_fake("removebg", mode="429", times=1) as fake: url, key = fake``."""
    fake = FakeProvider(name, _wirings()[name], mode=mode, **kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
