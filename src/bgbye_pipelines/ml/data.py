"""Torch dataset over the model-input manifest, with joint image/mask augmentation.

Images are decoded once and kept in memory as uint8 tensors (a few hundred MB at most for
thousands of pairs at training resolution): on a CPU box the data path must cost a small
fraction of the model step, and decoding JPEGs every epoch would not.

Preprocessing matches serving exactly (the exported ModelSpec says ``resize: fixed``, the
model's resampling, then ``/255`` or ``/max`` and mean/std). Models served with Lanczos from the
original image (u2netp) are trained from the original images decoded as the server decodes
them (``bgbye.imageio.read_rgb``) and resized with the same PIL call; the others use the
resized model-input copies. Validation samples go through the very same resize; training
samples are augmented copies (of slightly larger resizes when random crops are on).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from bgbye.errors import BgbyeError


class DataError(BgbyeError):
    code = "bad_training_data"
    http_status = 422


@dataclass
class AugmentConfig:
    """Joint augmentation; geometric ops move image and mask together, colour ops the image only."""

    enabled: bool = True
    crop_scale: tuple[float, float] | None = (0.55, 1.0)  # None: no random crop
    crop_ratio: tuple[float, float] = (0.75, 1.333)
    hflip: float = 0.5
    rotate_degrees: float = 10.0
    rotate_p: float = 0.3  # 0: no rotation
    # None: no colour jitter (hue is slow on CPU)
    color_jitter: tuple[float, float, float, float] | None = (0.3, 0.3, 0.3, 0.0)
    grayscale_p: float = 0.05
    # Background compositing: paste the subject (by its mask) onto a new background, so the
    # model learns the subject and not the scene. Half textures, half other training images.
    background_p: float = 0.35
    texture_share: float = 0.5
    load_margin: float = 1.2  # training copies are this much larger than the crop size

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> AugmentConfig:
        params = dict(params or {})
        for key in ("crop_scale", "crop_ratio", "color_jitter"):
            if params.get(key) is not None:
                params[key] = tuple(params[key])
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown augment parameters {sorted(unknown)}")
        return cls(**params)


@dataclass
class Normalization:
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    scale: Literal["unit", "max"] = "unit"

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """uint8/float (..., 3, H, W) in 0..255 -> normalised float32."""
        x = img.float()
        if self.scale == "max":
            peak = x.flatten(-3).amax(-1).clamp_min(1e-6)
            x = x / peak[..., None, None, None]
        else:
            x = x / 255.0
        mean = torch.tensor(self.mean, dtype=x.dtype).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(3, 1, 1)
        return (x - mean) / std


Resample = Literal["lanczos", "bilinear"]
_PIL = {"lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR}


def load_image(path: str, side: int, resample: Resample) -> np.ndarray:
    """An image decoded as the server decodes it, resized as the engine resizes it."""
    from bgbye import imageio
    from bgbye.errors import BgbyeError as _Err

    try:
        rgb = imageio.read_rgb(path)
    except (_Err, OSError) as exc:
        raise DataError(f"cannot read training image {path}: {exc}") from exc
    resized = Image.fromarray(rgb).resize((side, side), _PIL[resample])
    return np.array(resized, dtype=np.uint8)


def _load_pair(image_path: str, mask_path: str, side: int, resample: Resample
               ) -> tuple[np.ndarray, np.ndarray]:
    img = load_image(image_path, side, resample)
    try:
        with Image.open(mask_path) as mk:
            mask = mk.convert("L").resize((side, side), Image.Resampling.BILINEAR)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read training mask {mask_path}: {exc}") from exc
    return img, np.array(mask, dtype=np.uint8)


def manifest_split(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split; a clear error when the manifest lacks what training needs."""
    needed = {"id", "source", "split", "image_path", "mask_path"}
    missing = needed - set(manifest.columns)
    if missing:
        raise DataError(f"model input manifest lacks columns {sorted(missing)}")
    return manifest[manifest["split"] == split].reset_index(drop=True)


def _both_exist(*paths: str) -> bool:
    return all(Path(p).is_file() for p in paths)


def _paths(row: pd.Series, from_original: bool) -> tuple[str, str]:
    """The resized model-input copies (fast to decode) unless the originals are asked for or
    the copies are missing."""
    img = row.get("model_input_image")
    mask = row.get("model_input_mask")
    if (not from_original and isinstance(img, str) and isinstance(mask, str)
            and _both_exist(img, mask)):
        return img, mask
    return str(row["image_path"]), str(row["mask_path"])


def select_sources(rows: pd.DataFrame, sources: Sequence[str] | None, what: str,
                   manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of the named sources (None = all). A name the manifest does not know is an error; a
    known source without rows in this split (composites: train only) is fine, as long as the
    selection is not empty."""
    if sources is None:
        return rows
    known = sorted(str(s) for s in (rows if manifest is None else manifest)["source"].unique())
    unknown = [s for s in sources if s not in known]
    if unknown:
        raise DataError(f"{what}: unknown source(s) {unknown}; the manifest's sources are "
                        f"{known}")
    picked = rows[rows["source"].isin(list(sources))].reset_index(drop=True)
    if picked.empty:
        raise DataError(f"{what}: none of {list(sources)} has {what} pairs (the {what} rows come "
                        f"from {sorted(str(s) for s in rows['source'].unique())})")
    return picked


def random_texture(size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A synthetic background (3, size, size) uint8: smooth colour fields plus fine noise."""
    coarse = int(torch.randint(2, 24, (1,), generator=generator))
    field_ = torch.rand(3, coarse, coarse, generator=generator) * 255
    bg = F.interpolate(field_[None], size=(size, size), mode="bicubic", align_corners=False)[0]
    noise_amp = float(torch.rand(1, generator=generator)) * 40
    bg = bg + torch.randn(3, size, size, generator=generator) * noise_amp
    return bg.clamp(0, 255).to(torch.uint8)


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """(normalised image (3,S,S) float32, mask (1,S,S) float32 in 0..1) pairs."""

    def __init__(
        self,
        rows: pd.DataFrame,
        size: int,
        *,
        train: bool,
        augment: AugmentConfig | None = None,
        normalization: Normalization | None = None,
        resample: Resample = "bilinear",
        from_original: bool = False,
    ):
        if len(rows) == 0:
            raise DataError("no pairs for this split: check the manifest's split column")
        self.size = int(size)
        self.train = train
        self.augment = augment or AugmentConfig(enabled=False)
        self.normalize = normalization or Normalization()
        self.ids = [str(i) for i in rows["id"]]
        self.sources = [str(s) for s in rows["source"]]
        side = self.size
        if train and self.augment.enabled and self.augment.crop_scale is not None:
            side = int(math.ceil(self.size * self.augment.load_margin / 32) * 32)
        images, masks = [], []
        for _, row in rows.iterrows():
            img, mask = _load_pair(*_paths(row, from_original), side, resample)
            images.append(torch.from_numpy(img).permute(2, 0, 1).contiguous())
            masks.append(torch.from_numpy(mask)[None].contiguous())
        self.images = torch.stack(images)
        self.masks = torch.stack(masks)
        self._geometric = self._build_geometric()
        self._photometric = self._build_photometric()

    def _build_geometric(self) -> v2.Transform:
        a = self.augment
        ops: list[v2.Transform] = []
        if a.crop_scale is not None:
            ops.append(v2.RandomResizedCrop(self.size, scale=a.crop_scale, ratio=a.crop_ratio,
                                            antialias=True))
        if a.hflip:
            ops.append(v2.RandomHorizontalFlip(a.hflip))
        if a.rotate_p:
            ops.append(v2.RandomApply([v2.RandomRotation(a.rotate_degrees)], p=a.rotate_p))
        return v2.Compose(ops) if ops else v2.Identity()

    def _build_photometric(self) -> v2.Transform:
        a = self.augment
        ops: list[v2.Transform] = []
        if a.color_jitter is not None:
            ops.append(v2.ColorJitter(*a.color_jitter))
        if a.grayscale_p:
            ops.append(v2.RandomGrayscale(a.grayscale_p))
        return v2.Compose(ops) if ops else v2.Identity()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, mask = self.images[index], self.masks[index]
        if self.train and self.augment.enabled:
            img, mask = self._augment(index, img, mask)
        return self.normalize(img), mask.float() / 255.0

    def _augment(self, index: int, img: torch.Tensor, mask: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        img_t, mask_t = self._geometric(tv_tensors.Image(img), tv_tensors.Mask(mask))
        img, mask = img_t.as_subclass(torch.Tensor), mask_t.as_subclass(torch.Tensor)
        if self.augment.background_p and float(torch.rand(1)) < self.augment.background_p:
            img = composite(img, mask, self._background(index))
        img = self._photometric(tv_tensors.Image(img)).as_subclass(torch.Tensor)
        return img, mask

    def _background(self, index: int) -> torch.Tensor:
        if len(self) > 1 and float(torch.rand(1)) >= self.augment.texture_share:
            other = int(torch.randint(0, len(self) - 1, (1,)))
            other += int(other >= index)
            bg = self.images[other]
            return F.interpolate(bg[None].float(), size=(self.size, self.size), mode="bilinear",
                                 antialias=True, align_corners=False)[0].to(torch.uint8)
        return random_texture(self.size)


def composite(img: torch.Tensor, mask: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Subject over a new background, by the (soft) mask; all uint8 (C,H,W)."""
    alpha = mask.float() / 255.0
    out = img.float() * alpha + background.float() * (1.0 - alpha)
    return out.round().clamp(0, 255).to(torch.uint8)


def balanced_head(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` rows, taken round-robin over the sources (a capped validation set still
    covers every domain)."""
    rank = rows.groupby("source").cumcount()
    return rows.assign(_rank=rank).sort_values(["_rank", "source"], kind="stable").head(n) \
        .drop(columns="_rank").reset_index(drop=True)


def build_datasets(
    manifest: pd.DataFrame,
    size: int,
    augment: AugmentConfig,
    normalization: Normalization,
    *,
    limit: Sequence[int | None] = (None, None),
    sources: Sequence[str] | None = None,
    resample: Resample = "bilinear",
    from_original: bool = False,
) -> tuple[SegmentationDataset, SegmentationDataset]:
    """Train and validation datasets from the manifest (``limit`` caps pairs per split,
    ``sources`` picks the sources to train on; None = every source with train pairs)."""
    train_rows = select_sources(manifest_split(manifest, "train"), sources, "train", manifest)
    val_rows = select_sources(manifest_split(manifest, "val"), sources, "val", manifest)
    if limit[0]:
        train_rows = balanced_head(train_rows, limit[0])
    if limit[1]:
        val_rows = balanced_head(val_rows, limit[1])
    return (
        SegmentationDataset(train_rows, size, train=True, augment=augment,
                            normalization=normalization, resample=resample,
                            from_original=from_original),
        SegmentationDataset(val_rows, size, train=False, normalization=normalization,
                            resample=resample, from_original=from_original),
    )
