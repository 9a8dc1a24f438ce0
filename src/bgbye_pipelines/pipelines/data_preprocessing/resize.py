"""Training-resolution copies of each pair, cached by content so reruns cost nothing.

The partition name carries both content hashes: a changed image or mask gets a new copy and
an unchanged one is never decoded again (``skip_existing`` of the catalog entries).
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from bgbye import imageio
from bgbye_pipelines.pipelines.data_preprocessing.inspect import read_mask

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def partition_ids(
    size: int, source: str, key: str, sha256: str, mask_sha256: str, image_format: str
) -> tuple[str, str]:
    """Partition ids of a pair's copies in ``model_input_images`` / ``model_input_masks``:
    ``<size>/<source>/<key>-<hashes>.<format>`` (the mask always ``.png``)."""
    stem = f"{_UNSAFE.sub('_', key)}-{sha256[:10]}{mask_sha256[:6]}"
    folder = f"{size}/{_UNSAFE.sub('_', source)}"
    return f"{folder}/{stem}.{image_format}", f"{folder}/{stem}.png"


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    shrinking = size * size < h * w
    return cv2.resize(
        arr, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


def resized_image(image_path: str, size: int) -> np.ndarray:
    """The RGB image at ``size`` x ``size`` (called lazily, when its partition is saved)."""
    return _resize(imageio.decode(Path(image_path).read_bytes()), size)


def resized_mask(mask_path: str, size: int) -> np.ndarray:
    """The single-channel mask at ``size`` x ``size``."""
    return _resize(read_mask(Path(mask_path).read_bytes()), size)
