"""What is served from a network's outputs, in torch: the one place training mirrors serving.

``bgbye.engines.onnx.decode_output`` turns the exported graph's output into alpha: sigmoid (for
logits), then, when the spec says ``normalize: minmax``, a per-image stretch to 0..1. The loss's
``served`` term, validation MAE and the distillation targets use :func:`served_alpha`, so what
training optimises and measures is what users get (a low non-zero background that min-max
would turn grey is visible to the loss, not hidden behind the raw sigmoid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

Outputs = torch.Tensor | Sequence[torch.Tensor]
Normalize = Literal["none", "minmax"]


@dataclass(frozen=True)
class Calibration:
    """``sigmoid(scale * z + shift)`` in place of ``sigmoid(z)`` for the served map (see
    :mod:`.calibration`); the identity adds no operation to the exported graph."""

    scale: float = 1.0
    shift: float = 0.0

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.shift == 0.0

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.identity else logits * self.scale + self.shift

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration:
        data = data or {}
        return cls(float(data.get("scale", 1.0)), float(data.get("shift", 0.0)))


IDENTITY = Calibration()


def as_tuple(outputs: Outputs) -> tuple[torch.Tensor, ...]:
    return (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)


def primary(outputs: Outputs) -> torch.Tensor:
    """The served map (u2netp: the fused d0; single-output models: their only map)."""
    return as_tuple(outputs)[0]


def minmax(prob: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-image (N, 1, H, W) stretch to 0..1, as ``decode_output`` does."""
    flat = prob.flatten(1)
    lo = flat.amin(1).view(-1, 1, 1, 1)
    hi = flat.amax(1).view(-1, 1, 1, 1)
    return (prob - lo) / (hi - lo).clamp_min(eps)


def served_alpha(outputs: Outputs, normalize: Normalize,
                 calibration: Calibration = IDENTITY) -> torch.Tensor:
    """Alpha in 0..1 at network resolution, exactly as served (before the 8-bit resize)."""
    prob = torch.sigmoid(calibration.apply(primary(outputs).float()))
    return minmax(prob) if normalize == "minmax" else prob


class ServingHead(nn.Module):
    """The exported graph: the primary output only (calibrated), as logits or as probability."""

    def __init__(self, net: nn.Module, kind: Literal["logits", "prob"],
                 calibration: Calibration = IDENTITY):
        super().__init__()
        self.net = net
        self.kind = kind
        self.calibration = calibration

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.calibration.apply(primary(self.net(x)))
        return torch.sigmoid(out) if self.kind == "prob" else out
