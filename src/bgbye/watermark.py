"""A visible watermark for results that must not be mistaken for what was asked (mocked providers).

White text with a dark outline, tiled diagonally over the whole image, so it shows on light,
dark and transparent areas alike and cannot be cropped away. Pillow's bundled default font is
used: nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEFAULT_TEXT = "MOCKED"
OPACITY = 0.8


def watermark_text(info: dict[str, Any]) -> str | None:
    """The text to stamp on a result with this ``Prediction.info``, or None for a real result."""
    if not info.get("mocked"):
        return None
    return str(info.get("watermark") or DEFAULT_TEXT)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


@lru_cache(maxsize=8)
def _stamp(text: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(fill, outline) coverage in 0..1 of one rotated copy of the text."""
    font = _font(size)
    stroke = max(1, size // 12)
    x0, y0, x1, y1 = (round(v) for v in ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), text, font=font, stroke_width=stroke))
    pad = stroke + 2
    box = (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    layers = []
    for width in (0, stroke):
        img = Image.new("L", box, 0)
        ImageDraw.Draw(img).text((pad - x0, pad - y0), text, font=font, fill=255,
                                 stroke_width=width, stroke_fill=255)
        layers.append(img.rotate(30, resample=Image.Resampling.BICUBIC, expand=True))
    fill = np.asarray(layers[0], np.float32) / 255.0
    union = np.asarray(layers[1], np.float32) / 255.0
    return fill, np.clip(union - fill, 0.0, 1.0)


def _coverage(width: int, height: int, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Tile the stamp over (height, width) on a staggered grid."""
    size = int(np.clip(round(max(width, height) / 22), 12, 200))
    fill_t, line_t = _stamp(text, size)
    th, tw = fill_t.shape
    fill = np.zeros((height, width), np.float32)
    line = np.zeros((height, width), np.float32)
    step_x, step_y = max(1, int(tw * 0.9)), max(1, int(th * 0.7))
    for row, y in enumerate(range(-th // 2, height, step_y)):
        shift = (step_x // 2) * (row % 2)
        for x in range(-tw // 2 - shift, width, step_x):
            ys, xs = slice(max(y, 0), min(y + th, height)), slice(max(x, 0), min(x + tw, width))
            ts = (slice(ys.start - y, ys.stop - y), slice(xs.start - x, xs.stop - x))
            np.maximum(fill[ys, xs], fill_t[ts], out=fill[ys, xs])
            np.maximum(line[ys, xs], line_t[ts], out=line[ys, xs])
    return fill, line


def apply_watermark(image: np.ndarray, text: str, *, opacity: float = OPACITY) -> np.ndarray:
    """Stamp ``text`` over an L (mask), RGB or RGBA uint8 image; returns a new array."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("apply_watermark expects an (H, W), (H, W, 3) or (H, W, 4) uint8 array")
    height, width = image.shape[:2]
    fill, line = _coverage(width, height, text)
    fill *= opacity
    line *= opacity
    if image.ndim == 2:
        # A mask is black and white: draw each pixel in the opposite shade so text shows on both.
        v = image.astype(np.float32)
        target = np.where(v < 128, 255.0, 0.0)
        out = v + (target - v) * np.maximum(fill, line)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    out = image.astype(np.float32)
    rgb = out[:, :, :3]
    rgb *= (1.0 - line)[:, :, None]  # dark outline
    rgb += (255.0 - rgb) * fill[:, :, None]  # white letters
    if image.shape[2] == 4:
        # On transparent areas the text must be opaque to be seen at all.
        out[:, :, 3] = np.maximum(out[:, :, 3], np.maximum(fill, line) * 255.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
