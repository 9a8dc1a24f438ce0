"""A tiny model-input manifest built by code (same columns as data_preprocessing's)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SPLITS = ("train",) * 6 + ("val",) * 2 + ("test",) * 2


def subject_pair(width: int, height: int, seed: int, *, soft: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """An orange ellipse (the subject) on a noisy dark background, and its mask."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 70, size=(height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65)
    dist = ((xx - cx) / (width * 0.25)) ** 2 + ((yy - cy) / (height * 0.3)) ** 2
    mask = (dist < 1).astype(np.float32)
    if soft:
        mask = np.clip((1.3 - dist) / 0.6, 0, 1)
    orange = np.array([235, 150, 40])
    img = (img * (1 - mask[..., None]) + orange * mask[..., None]).astype(np.uint8)
    return img, (mask * 255).round().astype(np.uint8)


def write_manifest(folder: Path, *, sources: tuple[str, ...] = ("alpha", "beta"),
                   size: tuple[int, int] = (72, 56), soft_source: str | None = "beta"
                   ) -> pd.DataFrame:
    rows = []
    for s_index, source in enumerate(sources):
        for i, split in enumerate(SPLITS):
            stem = f"{source}_{i:02d}"
            soft = source == soft_source
            img, mask = subject_pair(*size, seed=100 * s_index + i, soft=soft)
            img_path = folder / source / "images" / f"{stem}.png"
            mask_path = folder / source / "masks" / f"{stem}.png"
            img_path.parent.mkdir(parents=True, exist_ok=True)
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(img_path)
            Image.fromarray(mask).save(mask_path)
            mi_img = folder / "mi" / f"{stem}.png"
            mi_mask = folder / "mi" / f"{stem}_mask.png"
            mi_img.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).resize((64, 64), Image.Resampling.BILINEAR).save(mi_img)
            Image.fromarray(mask).resize((64, 64), Image.Resampling.BILINEAR).save(mi_mask)
            rows.append({
                "id": f"{source}/{stem}", "source": source, "image_path": str(img_path),
                "mask_path": str(mask_path), "width": size[0], "height": size[1],
                "mask_kind": "soft" if soft else "binary",
                "sha256": hashlib.sha256(img.tobytes()).hexdigest(), "split": split,
                "model_input_image": str(mi_img), "model_input_mask": str(mi_mask),
            })
    return pd.DataFrame(rows)
