"""Online providers (remove.bg, Clipdrop, Photoroom) as engines, and fallback lists.

``removebg`` or ``removebg,local`` style references; ``local`` means the default local model and
any other entry is a model name or path. A provider whose key is not set answers with the local
model's result, flagged ``mocked`` and watermarked (see :mod:`bgbye.engines.providers.mocked`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bgbye.errors import UnknownModelError

if TYPE_CHECKING:
    from bgbye.engines import EngineCache
    from bgbye.engines.base import Engine
    from bgbye.engines.providers.base import ProviderClient
    from bgbye.settings import Settings

PROVIDER_NAMES = ("removebg", "clipdrop", "photoroom")
LOCAL = "local"
# Spellings users type, mapped to the canonical name.
ALIASES = {"remove.bg": "removebg", "remove_bg": "removebg", "remove-bg": "removebg",
           "photo room": "photoroom"}


def canonical(name: str) -> str:
    name = name.strip().lower()
    return ALIASES.get(name, name)


def split_ref(ref: str) -> list[str]:
    """``"remove.bg, local"`` -> ``["removebg", "local"]``; model paths keep their case."""
    parts = [p.strip() for p in ref.split(",") if p.strip()]
    return [canonical(p) if canonical(p) in (*PROVIDER_NAMES, LOCAL) else p for p in parts]


def is_provider_ref(ref: str) -> bool:
    parts = [canonical(p) for p in ref.split(",") if p.strip()]
    return any(p in PROVIDER_NAMES for p in parts)


def client_class(name: str) -> type[ProviderClient]:
    from bgbye.engines.providers.clipdrop import ClipdropClient
    from bgbye.engines.providers.photoroom import PhotoroomClient
    from bgbye.engines.providers.removebg import RemoveBgClient

    classes: dict[str, type[ProviderClient]] = {
        "removebg": RemoveBgClient, "clipdrop": ClipdropClient, "photoroom": PhotoroomClient}
    try:
        return classes[canonical(name)]
    except KeyError:
        raise UnknownModelError(
            f"Unknown provider {name!r}; choose {', '.join(PROVIDER_NAMES)}.") from None


def provider_config(name: str, settings: Settings) -> tuple[str | None, str]:
    """(API key or None, base URL) for a provider, from the settings."""
    name = canonical(name)
    key = {"removebg": settings.remove_bg_api_key, "clipdrop": settings.clipdrop_api_key,
           "photoroom": settings.photoroom_api_key}[name]
    url = {"removebg": settings.removebg_url, "clipdrop": settings.clipdrop_url,
           "photoroom": settings.photoroom_url}[name]
    return (key or None), url


def make_client(name: str, settings: Settings, **kwargs: Any) -> ProviderClient:
    """A real client; raises ProviderNotConfiguredError when the key is not set."""
    from bgbye.engines.providers.errors import ProviderNotConfiguredError

    cls = client_class(name)
    key, url = provider_config(name, settings)
    if key is None:
        raise ProviderNotConfiguredError(
            f"{cls.key_env} is not set: {cls.display_name} cannot be called.", provider=cls.name)
    kwargs.setdefault("timeout", settings.provider_timeout_seconds)
    return cls(api_key=key, base_url=url, **kwargs)


def _single(name: str, settings: Settings, cache: EngineCache) -> Engine:
    from bgbye.engines.providers.mocked import MockedProviderEngine

    cls = client_class(name)
    key, _ = provider_config(name, settings)
    if key is None:
        return MockedProviderEngine(cls.name, cls.display_name, cls.key_env, cache.get(None))
    return make_client(name, settings)


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
        if part in PROVIDER_NAMES:
            engine = cache.get(part)  # shares the client (and its connections) with plain refs
        elif part == LOCAL:
            engine = cache.get(None)
        else:
            engine = cache.get(part)
        entries.append((part, engine))
    return FallbackEngine(entries)
