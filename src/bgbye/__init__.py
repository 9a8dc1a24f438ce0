"""bgbye: self-hostable background removal (runtime package: no torch, no kedro)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Remover", "__version__"]


def __getattr__(name: str) -> object:
    # Lazy, so `import bgbye` stays cheap and Ray/Kedro workers import only what they use.
    if name == "Remover":
        from bgbye.remover import Remover

        return Remover
    raise AttributeError(name)
