"""Training-resolution copies of each pair, cached by content so reruns cost nothing.

The cache file name carries both content hashes: a changed image or mask gets a new copy and
an unchanged one is never decoded again.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from bgbye import imageio
from bgbye.atomic import atomic_write_bytes
from bgbye_pipelines.pipelines.data_preprocessing.inspect import read_mask

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def cache_paths(
    root: Path, source: str, key: str, sha256: str, mask_sha256: str, image_format: str
) -> tuple[Path, Path]:
    stem = f"{_UNSAFE.sub('_', key)}-{sha256[:10]}{mask_sha256[:6]}"
    folder = root / _UNSAFE.sub("_", source)
    return folder / f"{stem}.{image_format}", folder / f"{stem}.png"


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    shrinking = size * size < h * w
    return cv2.resize(
        arr, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


def resize_pair(
    image_path: str,
    mask_path: str,
    out_image: Path,
    out_mask: Path,
    size: int,
    image_format: str = "jpg",
) -> bool:
    """Write both copies unless cached; True when work was done."""
    if out_image.is_file() and out_mask.is_file():
        return False
    rgb = imageio.decode(Path(image_path).read_bytes())
    mask = read_mask(Path(mask_path).read_bytes())
    atomic_write_bytes(out_image, imageio.encode(_resize(rgb, size), image_format))
    atomic_write_bytes(out_mask, imageio.encode(_resize(mask, size), "png"))
    return True
