"""Training loss: a weighted sum of segmentation-models-pytorch losses on logits."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from bgbye.errors import BgbyeError


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
    raise BgbyeError(f"unknown loss term {name!r} (bce, dice, iou, lovasz, focal)",
                     code="bad_parameters", http_status=422)


class CombinedLoss(nn.Module):
    """``sum(weight * term(logits, target))``; targets are float masks in 0..1 (soft allowed)."""

    def __init__(self, weights: Mapping[str, float]):
        super().__init__()
        if not weights:
            raise BgbyeError("the loss needs at least one term", code="bad_parameters",
                             http_status=422)
        self.weights = {name: float(w) for name, w in weights.items()}
        self.terms = nn.ModuleDict({name: _term(name) for name in self.weights})

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = logits.new_zeros(())
        for name, weight in self.weights.items():
            total = total + weight * self.terms[name](logits, target)
        return total


def build_loss(weights: Mapping[str, float] | None = None) -> CombinedLoss:
    return CombinedLoss(weights or {"bce": 1.0, "iou": 1.0})
