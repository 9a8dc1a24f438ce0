"""The one Engine protocol: an RGB image in, an alpha matte of the same size out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass
class Prediction:
    alpha: np.ndarray  # (H, W) uint8, same size as the input image
    # What answered and anything worth reporting (provider credits, rate limits, mocked...).
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    name: str  # stable id: u2netp, heuristic, removebg...
    label: str  # what a person is told produced the result

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        """``rgb`` is (H, W, 3) uint8. ``source`` is the original file when there is one,
        for engines (online providers) that would rather send it than re-encode."""
        ...
