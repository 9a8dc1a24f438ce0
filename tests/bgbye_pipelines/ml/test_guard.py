"""The forgetting guard: at the start it exerts no pull; once the model drifts, it pulls back."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from bgbye_pipelines.ml.data import Normalization  # noqa: E402
from bgbye_pipelines.ml.guard import distillation_loss, teacher_targets  # noqa: E402

pytestmark = pytest.mark.train


class TwoHeads(nn.Module):
    """A stand-in for u2netp: a fused map and one side map, both logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)
        self.fused, self.side = nn.Conv2d(4, 1, 1), nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.body(x))
        return self.fused(h), self.side(h)


def _grad_norm(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> float:
    model.zero_grad()
    distillation_loss(model(x), targets, "minmax").backward()
    return float(sum(p.grad.abs().sum() for p in model.parameters() if p.grad is not None))


def test_no_pull_at_the_start_and_a_pull_after_drift() -> None:
    torch.manual_seed(0)
    model = TwoHeads()
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    norm = Normalization(scale="max")
    targets = teacher_targets(model, images, norm, "minmax")
    assert targets.shape == (3, 3, 16, 16)  # two output maps + the served alpha
    x = norm(images)
    at_start = _grad_norm(model, x, targets)
    with torch.no_grad():
        model.side.bias += 1.0  # drift
    drifted = _grad_norm(model, x, targets)
    assert at_start < 0.05 * drifted  # float16 targets: a rounding-sized pull only
