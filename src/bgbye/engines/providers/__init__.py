"""Online providers (remove.bg, Clipdrop, Photoroom) as engines, and fallback lists.

``removebg`` or ``removebg,local`` style references; ``local`` means the default local model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bgbye.errors import UnknownModelError

if TYPE_CHECKING:
    from bgbye.engines import EngineCache
    from bgbye.engines.base import Engine
    from bgbye.settings import Settings

PROVIDER_NAMES = ("removebg", "clipdrop", "photoroom")
# Spellings users type, mapped to the canonical name.
ALIASES = {"remove.bg": "removebg", "remove_bg": "removebg", "photoroom": "photoroom"}


def canonical(name: str) -> str:
    name = name.strip().lower()
    return ALIASES.get(name, name)


def is_provider_ref(ref: str) -> bool:
    parts = [canonical(p) for p in ref.split(",") if p.strip()]
    return any(p in PROVIDER_NAMES for p in parts)


def build(ref: str, settings: Settings, cache: EngineCache) -> Engine:
    raise UnknownModelError(f"Online providers are not available in this build: {ref!r}.")
