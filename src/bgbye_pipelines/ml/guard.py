"""The forgetting guard: distillation to the stock model on unlabelled "general" images.

Fine-tuning on a few domains pulls a model away from what it did well elsewhere. While it
trains, each step also sees ``per_step`` general images (any images the user has: no masks
needed) whose targets are the *starting* model's own outputs, computed once before the first
step: every output map's probability (u2netp: d0 and its six side maps, each its own target)
and the served alpha. The guard's loss is soft BCE of each output against the starting
model's same output plus the squared error of the served alpha, weighted by ``weight``: no pull at
the start, a pull back towards the stock answers as soon as the model drifts on images outside
the domain. (Distilling every side map to d0's served alpha, as a first version did, pulls the
side maps away from stock from the first step: measured worse, see docs/training.md.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from bgbye_pipelines.ml.data import DataError, Normalization, Resample, load_image
from bgbye_pipelines.ml.served import Normalize, Outputs, as_tuple, served_alpha

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class GuardConfig:
    """``model_training.general_images``: where the images come from and how much they weigh."""

    sources: list[str] | None = None  # manifest sources whose `split` images are used (no masks)
    dir: str | None = None  # or a folder of images (searched recursively)
    split: str = "train"
    limit: int | None = None  # at most this many images (a deterministic subset)
    per_step: int = 2  # general images added to every training batch
    weight: float = 1.0

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> GuardConfig | None:
        if not params:
            return None
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown general_images parameters {sorted(unknown)}")
        cfg = cls(**params)
        if bool(cfg.sources) == bool(cfg.dir):
            raise DataError("general_images needs exactly one of `sources` (manifest sources) "
                            "or `dir` (a folder of images)")
        if cfg.split == "test":
            raise DataError("general_images must not come from the test split (it is scored)")
        return cfg


def image_paths(cfg: GuardConfig, manifest: pd.DataFrame) -> list[str]:
    """The general images, sorted, capped at ``limit``; clear errors when there are none."""
    if cfg.dir:
        folder = Path(cfg.dir)
        if not folder.is_dir():
            raise DataError(f"general_images.dir {folder} does not exist")
        paths = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise DataError(f"general_images.dir {folder} holds no images "
                            f"({', '.join(IMAGE_SUFFIXES)})")
    else:
        known = sorted(str(s) for s in manifest["source"].unique())
        unknown = [s for s in cfg.sources or [] if s not in known]
        if unknown:
            raise DataError(f"general_images: unknown source(s) {unknown}; the manifest has "
                            f"{known}")
        rows = manifest[manifest["source"].isin(cfg.sources or []) &
                        (manifest["split"] == cfg.split)]
        if rows.empty:
            raise DataError(f"general_images: no {cfg.split!r} images in {cfg.sources}")
        key = "sha256" if "sha256" in rows.columns else "id"
        paths = [str(p) for p in rows.sort_values(key)["image_path"]]
    return paths[: cfg.limit] if cfg.limit else paths


@torch.no_grad()
def teacher_targets(module: nn.Module, images: torch.Tensor, normalization: Normalization,
                    normalize: Normalize, batch: int = 4) -> torch.Tensor:
    """For uint8 images (N, 3, S, S): (N, K + 1, S, S) float16, the probability of each of the
    model's K outputs, then its served alpha."""
    was_training = module.training
    module.eval()
    out = []
    for start in tqdm(range(0, len(images), batch), desc="guard targets", leave=False,
                      mininterval=2.0):
        maps = as_tuple(module(normalization(images[start:start + batch])))
        probs = [torch.sigmoid(m.float()) for m in maps]
        out.append(torch.cat([*probs, served_alpha(maps, normalize)], 1).half())
    module.train(was_training)
    return torch.cat(out)


def distillation_loss(outputs: Outputs, targets: torch.Tensor, normalize: Normalize
                      ) -> torch.Tensor:
    """Soft BCE of each output against the starting model's same output, plus the squared error
    of the served alpha against the starting model's served alpha."""
    maps = as_tuple(outputs)
    targets = targets.float()
    total = targets.new_zeros(())
    for k, logits in enumerate(maps):
        total = total + F.binary_cross_entropy_with_logits(logits.float(), targets[:, k:k + 1])
    served = served_alpha(maps, normalize)
    # squared, not absolute: no pull at all where the model still agrees with its start (L1
    # would push by the sign of the targets' float16 rounding)
    return total + (served - targets[:, len(maps):len(maps) + 1]).square().mean()


class Guard:
    """General images held in memory with their targets; ``sample`` draws a flipped batch."""

    def __init__(self, cfg: GuardConfig, images: torch.Tensor, targets: torch.Tensor,
                 normalization: Normalization, hflip: float = 0.5,
                 normalize: Normalize = "none"):
        self.cfg = cfg
        self.served_normalize = normalize
        self.images = images
        self.targets = targets
        self.normalize = normalization
        self.hflip = hflip

    @classmethod
    def build(cls, cfg: GuardConfig, paths: Sequence[str], module: nn.Module, size: int,
              resample: Resample, normalization: Normalization, normalize: Normalize,
              hflip: float = 0.5, cache: Path | None = None, key: str = "") -> Guard:
        """Decode the images and compute the targets with ``module`` as it is now (the stock
        model); with ``cache``, both are kept there under ``key`` so a resumed run reuses the
        stock model's targets instead of computing them from fine-tuned weights."""
        from bgbye_pipelines.ml.fit import atomic_torch_save

        saved = torch.load(cache, weights_only=True) if cache and cache.is_file() else None
        if saved is not None and saved.get("key") == key:
            images, targets = saved["images"], saved["targets"]
        else:
            images = torch.stack([torch.from_numpy(load_image(p, size, resample))
                                  .permute(2, 0, 1) for p in paths])
            targets = teacher_targets(module, images, normalization, normalize)
            if cache:
                atomic_torch_save({"key": key, "images": images, "targets": targets}, cache)
        log.info("forgetting guard: %d general images, %d per step, weight %.2f", len(paths),
                 cfg.per_step, cfg.weight)
        return cls(cfg, images, targets, normalization, hflip, normalize)

    def __len__(self) -> int:
        return len(self.images)

    def loss(self, outputs: Outputs, targets: torch.Tensor) -> torch.Tensor:
        return distillation_loss(outputs, targets, self.served_normalize)

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(self.images), (n,))
        x, t = self.images[idx], self.targets[idx]
        flip = torch.rand(n) < self.hflip
        x[flip] = x[flip].flip(-1)
        t[flip] = t[flip].flip(-1)
        return self.normalize(x), t
