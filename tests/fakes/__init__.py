"""Fake remove.bg, Clipdrop and Photoroom servers that enforce the documented contracts.

    from tests.fakes import running_fake

    with running_fake("removebg", mode="ok") as fake:
        url, key = fake                       # or fake.url, fake.key
        settings = Settings(**fake.settings_kwargs(), ...)   # or monkeypatch fake.env()
        ...
        fake.requests[-1].fields              # what the client sent

Modes: ok, 402, 429 (Retry-After: ``retry_after``), 500, slow (``delay`` s), drop, garbage;
``times=N`` limits the mode to the next N requests. See ``tests/fakes/provider.py``.
"""

from tests.fakes.images import ellipse_alpha
from tests.fakes.provider import FakeProvider, configured, running_fake
from tests.fakes.server import MODES, FakeRequest

PROVIDERS = ("removebg", "clipdrop", "photoroom")

__all__ = ["MODES", "PROVIDERS", "FakeProvider", "FakeRequest", "configured", "ellipse_alpha",
           "running_fake"]
