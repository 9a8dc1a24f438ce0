"""Read one image/mask pair and measure what validation needs: sizes, hashes, mask statistics."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from bgbye import imageio
from bgbye.errors import BgbyeError


def read_mask(data: bytes) -> np.ndarray:
    """A mask file as (H, W) uint8: the alpha channel when the file has a real one, else luma."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img: Image.Image = Image.open(io.BytesIO(data))
        img.load()
    img = ImageOps.exif_transpose(img) or img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:  # a cut-out PNG: the alpha is the mask
            return alpha
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return imageio.to_rgb(img)[:, :, 0]
    return np.asarray(img.convert("L"), dtype=np.uint8)


def mask_stats(mask: np.ndarray, soft_band: tuple[int, int] = (16, 239)) -> dict[str, float]:
    """Foreground fraction (mean alpha) and the fraction of clearly intermediate values."""
    lo, hi = soft_band
    return {
        "fg_fraction": float(mask.mean()) / 255.0,
        "soft_fraction": float(((mask >= lo) & (mask <= hi)).mean()),
    }


def inspect_pair(
    image_path: str, mask_path: str, *, soft_threshold: float = 0.002, max_pixels: int = 100_000_000
) -> dict[str, Any]:
    """Measurements for one pair; ``error`` names the first problem (None when readable)."""
    out: dict[str, Any] = {
        "width": 0,
        "height": 0,
        "mask_width": 0,
        "mask_height": 0,
        "sha256": "",
        "mask_sha256": "",
        "fg_fraction": np.nan,
        "soft_fraction": np.nan,
        "mask_kind": "",
        "error": None,
        "detail": "",
    }
    try:
        with open(image_path, "rb") as fh:
            data = fh.read()
        out["sha256"] = hashlib.sha256(data).hexdigest()
        rgb = imageio.decode(data, max_pixels=max_pixels)
        out["height"], out["width"] = int(rgb.shape[0]), int(rgb.shape[1])
    except (OSError, BgbyeError) as exc:
        out.update(error="unreadable_image", detail=getattr(exc, "message", None) or str(exc))
        return out
    if not mask_path:
        out.update(error="missing_mask", detail="no mask paired with this image")
        return out
    try:
        with open(mask_path, "rb") as fh:
            mdata = fh.read()
        out["mask_sha256"] = hashlib.sha256(mdata).hexdigest()
        mask = read_mask(mdata)
    except Exception as exc:  # Pillow raises many types on broken files
        out.update(error="unreadable_mask", detail=f"{type(exc).__name__}: {exc}")
        return out
    out["mask_height"], out["mask_width"] = int(mask.shape[0]), int(mask.shape[1])
    stats = mask_stats(mask)
    out.update(stats)
    out["mask_kind"] = "soft" if stats["soft_fraction"] > soft_threshold else "binary"
    return out
