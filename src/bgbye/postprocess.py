"""Alpha refinement and composition: transparent, mask only, colour or image background, crop."""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from bgbye.errors import InvalidOptionError
from bgbye.imageio import normalize_format
from bgbye.layout import Layout

_NAMED_COLORS = {
    "white": "ffffff",
    "black": "000000",
    "red": "ff0000",
    "green": "00ff00",
    "blue": "0000ff",
    "gray": "808080",
    "grey": "808080",
    "transparent": "00000000",
}
_HEX = re.compile(r"^[0-9a-fA-F]{3,8}$")


def parse_color(value: str) -> tuple[int, int, int, int]:
    """``#81d4fa``, ``fff``, ``81d4fa77`` or a few names -> RGBA."""
    v = value.strip().lower().lstrip("#")
    v = _NAMED_COLORS.get(v, v)
    if not _HEX.match(v) or len(v) not in (3, 4, 6, 8):
        raise InvalidOptionError(
            f"Invalid colour {value!r}: use hex like #81d4fa, fff or 81d4fa80."
        )
    if len(v) in (3, 4):
        v = "".join(c * 2 for c in v)
    r, g, b = int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)
    a = int(v[6:8], 16) if len(v) == 8 else 255
    return r, g, b, a


@dataclass(frozen=True)
class RemoveOptions:
    format: str = "png"
    mask_only: bool = False
    bg_color: str | None = None
    bg_image: np.ndarray | None = None  # decoded RGB
    crop: bool = False
    margin: int = 0
    refine: bool = False
    # Placement (roi, crop margins, scale, position, size limit): applied by the Remover
    # between the engine and the composition.
    layout: Layout | None = None

    def validated(self) -> RemoveOptions:
        normalize_format(self.format)
        if self.margin < 0 or self.margin > 10_000:
            raise InvalidOptionError("margin must be between 0 and 10000 pixels.")
        if self.bg_color is not None:
            parse_color(self.bg_color)
        if self.bg_color is not None and self.bg_image is not None:
            raise InvalidOptionError("Choose either a background colour or a background image.")
        if self.mask_only and (self.bg_color is not None or self.bg_image is not None):
            raise InvalidOptionError("mask_only cannot be combined with a background.")
        return self

    @property
    def output_format(self) -> str:
        return normalize_format(self.format)


def refine_alpha(
    rgb: np.ndarray, alpha: np.ndarray, radius: int = 8, eps: float = 1e-3
) -> np.ndarray:
    """Edge-aware refinement with a guided filter (He et al.), the image as guide.

    Hand-written because it is ~15 lines of box filters; pymatting's closed-form matting
    costs seconds per megapixel and pulls in numba.
    """
    guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    p = alpha.astype(np.float32) / 255.0
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(p)
    cov_ip = box(guide * p) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    q = box(a) * guide + box(b)
    return np.clip(q * 255.0 + 0.5, 0, 255).astype(np.uint8)


def subject_box(alpha: np.ndarray, margin: int, threshold: int = 16) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the pixels above threshold, grown by margin; whole image if none."""
    ys, xs = np.nonzero(alpha > threshold)
    h, w = alpha.shape
    if len(xs) == 0:
        return 0, 0, w, h
    x0, x1 = max(0, int(xs.min()) - margin), min(w, int(xs.max()) + 1 + margin)
    y0, y1 = max(0, int(ys.min()) - margin), min(h, int(ys.max()) + 1 + margin)
    return x0, y0, x1, y1


def _cover(bg: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover (width, height) and centre-crop, like CSS background-size: cover."""
    bh, bw = bg.shape[:2]
    scale = max(width / bw, height / bh)
    nw, nh = max(width, round(bw * scale)), max(height, round(bh * scale))
    resized = cv2.resize(
        bg, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return resized[y0 : y0 + height, x0 : x0 + width]


def compose(rgb: np.ndarray, alpha: np.ndarray, options: RemoveOptions) -> np.ndarray:
    """Apply the options to an image and its alpha; returns L, RGB or RGBA uint8."""
    if options.refine:
        alpha = refine_alpha(rgb, alpha)
    if options.crop:
        x0, y0, x1, y1 = subject_box(alpha, options.margin)
        rgb, alpha = rgb[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    if options.mask_only:
        return np.ascontiguousarray(alpha)
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    if options.bg_image is not None or options.bg_color is not None:
        h, w = alpha.shape
        if options.bg_image is not None:
            bg = _cover(options.bg_image, w, h).astype(np.float32)
            bg_alpha = 1.0
        else:
            r, g, b, ba = parse_color(options.bg_color or "ffffff")
            bg = np.empty((h, w, 3), np.float32)
            bg[:] = (r, g, b)
            bg_alpha = ba / 255.0
        out = rgb.astype(np.float32) * a + bg * (1.0 - a)
        if bg_alpha >= 1.0 or options.output_format == "jpg":
            return np.clip(out + 0.5, 0, 255).astype(np.uint8)
        out_alpha = (a[:, :, 0] + bg_alpha * (1.0 - a[:, :, 0])) * 255.0
        return np.dstack([np.clip(out + 0.5, 0, 255), out_alpha + 0.5]).astype(np.uint8)
    return cutout(rgb, alpha)


# A pixel at most 1/255 opaque moves any composite by at most one level: its colour is noise
# to the eye but not to zlib, so it is dropped (alpha itself is never changed).
INVISIBLE_ALPHA = 1


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA with the original colours; invisible pixels carry RGB 0 so PNGs compress."""
    h, w = alpha.shape
    rgba = np.empty((h, w, 4), np.uint8)
    # One vectorised multiply instead of boolean indexing: 3x cheaper on 1-MP images.
    np.multiply(rgb, (alpha > INVISIBLE_ALPHA)[:, :, None], out=rgba[:, :, :3], casting="unsafe")
    rgba[:, :, 3] = alpha
    return rgba
