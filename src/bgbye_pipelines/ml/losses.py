"""Training loss: weighted smp loss terms on logits, deep supervision, and a served-alpha term.

``loss`` parameters: term weights (``bce``, ``dice``, ``iou``, ``lovasz``, ``focal``) plus
- ``deep_supervision`` (default true): apply the terms to every output of a multi-output model
  (u2netp's fused map and six side maps, as U²-Net was trained); false: the first output only;
- ``served_mae`` (default 0): weight of the mean |served alpha - target| of the first output,
  where served alpha is what ``bgbye`` decodes (sigmoid, then min-max for u2netp), through the
  output calibration that validation last chose when ``fit.calibrate`` is on (``calibration``
  is set by the fit loop; identity otherwise), so the term sees what will be served;
- ``served_calibrated`` (default true): false keeps that term on the uncalibrated alpha.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from bgbye.errors import BgbyeError
from bgbye_pipelines.ml.served import (
    IDENTITY,
    Calibration,
    Normalize,
    Outputs,
    as_tuple,
    served_alpha,
)

_OPTIONS = ("deep_supervision", "served_mae", "served_calibrated")


def _bad(message: str) -> BgbyeError:
    return BgbyeError(message, code="bad_parameters", http_status=422)


def _term(name: str) -> nn.Module:
    from segmentation_models_pytorch import losses

    if name == "bce":
        return losses.SoftBCEWithLogitsLoss()
    if name == "dice":
        return losses.DiceLoss("binary", from_logits=True)
    if name in ("iou", "jaccard"):
        return losses.JaccardLoss("binary", from_logits=True)
    if name == "lovasz":
        return losses.LovaszLoss("binary", from_logits=True)
    if name == "focal":
        return losses.FocalLoss("binary")
    raise _bad(f"unknown loss term {name!r} (bce, dice, iou, lovasz, focal; options "
               f"{', '.join(_OPTIONS)})")


class CombinedLoss(nn.Module):
    """``sum(weight * term(logits, target))``; targets are float masks in 0..1 (soft allowed)."""

    def __init__(self, weights: Mapping[str, float], *, deep_supervision: bool = True,
                 served_mae: float = 0.0, normalize: Normalize = "none",
                 served_calibrated: bool = True):
        super().__init__()
        self.weights = {name: float(w) for name, w in weights.items() if float(w) != 0.0}
        if not self.weights and not served_mae:
            raise _bad("the loss needs at least one term")
        self.terms = nn.ModuleDict({name: _term(name) for name in self.weights})
        self.deep_supervision = deep_supervision
        self.served_mae = float(served_mae)
        self.normalize = normalize
        self.served_calibrated = served_calibrated
        self.calibration: Calibration = IDENTITY  # set by the fit loop (fit.calibrate)

    def forward(self, outputs: Outputs, target: torch.Tensor) -> torch.Tensor:
        maps = as_tuple(outputs)
        supervised = maps if self.deep_supervision else maps[:1]
        total = target.new_zeros(())
        for logits in supervised:
            for name, weight in self.weights.items():
                total = total + weight * self.terms[name](logits.float(), target)
        if self.served_mae:
            calibration = self.calibration if self.served_calibrated else IDENTITY
            served = served_alpha(maps[0], self.normalize, calibration)
            total = total + self.served_mae * (served - target).abs().mean()
        return total


def build_loss(params: Mapping[str, Any] | None = None, normalize: Normalize = "none"
               ) -> CombinedLoss:
    params = dict(params or {"bce": 1.0, "iou": 1.0})
    options = {k: params.pop(k) for k in _OPTIONS if k in params}
    return CombinedLoss({k: float(v) for k, v in params.items()},
                        deep_supervision=bool(options.get("deep_supervision", True)),
                        served_mae=float(options.get("served_mae", 0.0)), normalize=normalize,
                        served_calibrated=bool(options.get("served_calibrated", True)))
