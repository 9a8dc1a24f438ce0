"""What the fakes 'segment': a soft centre ellipse, computed for whatever image was uploaded.

Tests compare a client's alpha with :func:`ellipse_alpha` at the input size, so a client that
loses, flips, crops or mis-scales the provider's answer fails.
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
from PIL import Image

FORMATS = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp"),
           "jpg": ("JPEG", "image/jpeg")}


def ellipse_alpha(width: int, height: int) -> np.ndarray:
    """(height, width) uint8: opaque inside an ellipse of 70% x 80% of the frame, soft edge."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    r = np.sqrt(((xx + 0.5 - width / 2) / (0.35 * width)) ** 2
                + ((yy + 0.5 - height / 2) / (0.40 * height)) ** 2)
    return (np.clip((1.08 - r) / 0.16, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def open_upload(data: bytes) -> Image.Image | None:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:
        return None
    return img


def scale_to(img: Image.Image, max_pixels: float) -> Image.Image:
    w, h = img.size
    if w * h <= max_pixels:
        return img
    s = math.sqrt(max_pixels / (w * h))
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)


def cutout(img: Image.Image) -> Image.Image:
    """RGBA: the uploaded colours with the ellipse as alpha."""
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.fromarray(ellipse_alpha(*img.size)))
    return rgba


def bbox(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the non-transparent pixels."""
    ys, xs = np.nonzero(alpha)
    if len(xs) == 0:
        return 0, 0, 0, 0
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def on_color(rgba: Image.Image, rgba_color: tuple[int, int, int, int]) -> Image.Image:
    bg = Image.new("RGBA", rgba.size, rgba_color)
    return Image.alpha_composite(bg, rgba)


def encode(img: Image.Image, fmt: str) -> tuple[bytes, str]:
    """Bytes and media type; JPEG drops alpha onto white, as the services do."""
    pil_fmt, media = FORMATS[fmt]
    if fmt == "jpg" and img.mode in ("RGBA", "LA"):
        img = on_color(img.convert("RGBA"), (255, 255, 255, 255)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, pil_fmt)
    return buf.getvalue(), media


def removebg_zip(rgba: Image.Image) -> bytes:
    """remove.bg's ZIP format: color.jpg plus alpha.png."""
    color, _ = encode(rgba.convert("RGB"), "jpg")
    alpha, _ = encode(rgba.getchannel("A"), "png")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("color.jpg", color)
        zf.writestr("alpha.png", alpha)
    return buf.getvalue()
