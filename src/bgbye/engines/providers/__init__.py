"""Online providers (remove.bg, Clipdrop, Photoroom) as engines, and fallback lists.

``removebg`` or ``removebg,local`` style references; ``local`` means the default local model and
any other entry is a model name or path. A provider whose key is not set answers with the local
model's result, flagged ``mocked`` and watermarked (see :mod:`bgbye.engines.providers.mocked`).

The registry: each client class in this package (a :class:`ProviderClient` subclass) declares
its name, aliases, key and URL variables and default URL, and registers itself when defined;
:func:`registry` imports every module of the package once. Adding a provider is one module
here (plus its fake and tests); settings, the server and reference parsing follow.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bgbye.errors import InvalidOptionError, UnknownModelError

if TYPE_CHECKING:
    from bgbye.engines import EngineCache
    from bgbye.engines.base import Engine
    from bgbye.engines.providers.base import ProviderClient
    from bgbye.settings import Settings

LOCAL = "local"
_loaded = False


def registry() -> dict[str, type[ProviderClient]]:
    """Every provider client class by canonical name (importing this package's modules once)."""
    global _loaded
    from bgbye.engines.providers.base import REGISTRY

    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return dict(sorted(REGISTRY.items(), key=lambda item: (item[1].listing_order, item[0])))


def names() -> tuple[str, ...]:
    return tuple(registry())


def canonical(name: str) -> str:
    """What a user typed (``remove.bg``, ``Photo Room``) -> the canonical name, else unchanged."""
    name = name.strip().lower()
    for cls in registry().values():
        if name in cls.aliases:
            return cls.name
    return name


def split_ref(ref: str) -> list[str]:
    """``"remove.bg, local"`` -> ``["removebg", "local"]``; model paths keep their case."""
    parts = [p.strip() for p in ref.split(",") if p.strip()]
    known = {*names(), LOCAL}
    return [canonical(p) if canonical(p) in known else p for p in parts]


def is_provider_ref(ref: str) -> bool:
    return any(p in registry() for p in split_ref(ref))


def engine_ref(model: str | None, provider: str | None) -> str | None:
    """The one model-vs-provider rule of every front end (CLI, HTTP routes, jobs).

    Either a model (name or, in the CLI, a path) or a provider reference, never both: asking
    for both is an error, not a silent preference. A provider reference is canonicalised
    (``remove.bg, local`` -> ``removebg,local``) and must name at least one provider; its other
    entries are ``local`` or models. ``None`` means the default model. Blank values count as
    not given (empty form fields).
    """
    model = (model or "").strip() or None
    provider = (provider or "").strip() or None
    if model and provider:
        raise InvalidOptionError("Choose either a model or a provider, not both.")
    if provider is None:
        return model
    parts = split_ref(provider)
    if not parts or not any(p in registry() for p in parts):
        raise InvalidOptionError(
            f"Unknown provider {provider!r}: choose {', '.join(labels().values())} "
            f"(or a fallback list such as removebg,local).")
    return ",".join(parts)


def client_class(name: str) -> type[ProviderClient]:
    try:
        return registry()[canonical(name)]
    except KeyError:
        raise UnknownModelError(
            f"Unknown provider {name!r}; choose {', '.join(names())}.") from None


def labels() -> dict[str, str]:
    """Canonical name -> how the company writes it."""
    return {name: cls.display_name for name, cls in registry().items()}


@dataclass(frozen=True)
class ProviderConfig:
    key: str | None
    url: str


def provider_config(name: str, settings: Settings) -> ProviderConfig:
    """The API key (None when unset) and base URL of a provider, from the settings."""
    cls = client_class(name)
    return ProviderConfig(key=settings.provider_keys.get(cls.name) or None,
                          url=settings.provider_urls.get(cls.name) or cls.default_url)


def configured(name: str, settings: Settings) -> bool:
    return provider_config(name, settings).key is not None


def make_client(name: str, settings: Settings, **kwargs: Any) -> ProviderClient:
    """A real client; raises ProviderNotConfiguredError when the key is not set."""
    from bgbye.engines.providers.errors import ProviderNotConfiguredError

    cls = client_class(name)
    config = provider_config(name, settings)
    if config.key is None:
        raise ProviderNotConfiguredError(
            f"{cls.key_env} is not set: {cls.display_name} cannot be called.", provider=cls.name)
    kwargs.setdefault("timeout", settings.provider_timeout_seconds)
    return cls(api_key=config.key, base_url=config.url, **kwargs)


def _single(name: str, settings: Settings, cache: EngineCache) -> Engine:
    from bgbye.engines.providers.mocked import MockedProviderEngine

    cls = client_class(name)
    if not configured(name, settings):
        return MockedProviderEngine(cls.name, cls.display_name, cls.key_env, cache.get(None),
                                    cache.metrics)
    return make_client(name, settings, metrics=cache.metrics)


def build(ref: str, settings: Settings, cache: EngineCache) -> Engine:
    """The engine for a provider ref: one client, a mocked stand-in, or a fallback list."""
    from bgbye.engines.providers.fallback import FallbackEngine

    parts = split_ref(ref)
    if not parts:
        raise UnknownModelError("Empty provider list.")
    if len(parts) != len(set(parts)):
        raise UnknownModelError(f"{ref!r} names the same engine twice.")
    if len(parts) == 1:
        return _single(parts[0], settings, cache)
    entries: list[tuple[str, Engine]] = []
    for part in parts:
        if part in registry():
            engine = cache.get(part)  # shares the client (and its connections) with plain refs
        elif part == LOCAL:
            engine = cache.get(None)
        else:
            engine = cache.get(part)
        entries.append((part, engine))
    return FallbackEngine(entries)
