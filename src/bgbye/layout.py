"""Geometry of a result: region of interest, crop with margins, subject scale and position,
output size limit.

These are the placement options remove.bg's API has (``roi``, ``crop``/``crop_margin``,
``scale``, ``position``, ``size``); they act on the image and its alpha between the engine and
the composition, so every front end gets them through the one ``Remover`` path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# The alpha above which a pixel counts as foreground for boxes (as postprocess.subject_box).
FOREGROUND_THRESHOLD = 16


@dataclass(frozen=True)
class Length:
    """A length in pixels, or a percentage of a reference length."""

    value: float
    percent: bool = False

    def px(self, reference: int) -> int:
        return round(self.value * reference / 100.0) if self.percent else round(self.value)


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
ZERO = Length(0)


def foreground_box(alpha: np.ndarray, threshold: int = FOREGROUND_THRESHOLD) -> Box | None:
    ys, xs = np.nonzero(alpha > threshold)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@dataclass(frozen=True)
class Layout:
    max_pixels: int | None = None  # scale the result down to at most this many pixels
    roi: tuple[Length, Length, Length, Length] | None = None  # x1 y1 x2 y2 of the input
    crop: bool = False
    crop_margin: tuple[Length, Length, Length, Length] = (ZERO, ZERO, ZERO, ZERO)  # t r b l
    scale: float | None = None  # the subject's size relative to the canvas, 0.1..1
    position: tuple[float, float] | None = None  # subject placement, fractions; None = as is

    def apply(self, rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.roi is not None:
            alpha = self._roi(alpha)
        if self.max_pixels is not None:
            rgb, alpha = _limit(rgb, alpha, self.max_pixels)
        if self.crop:
            rgb, alpha = self._crop(rgb, alpha)
        if self.scale is not None or self.position is not None:
            rgb, alpha = self._place(rgb, alpha)
        return rgb, alpha

    def roi_box(self, width: int, height: int) -> Box:
        assert self.roi is not None
        x1, y1, x2, y2 = self.roi
        return (max(0, x1.px(width)), max(0, y1.px(height)),
                min(width, x2.px(width)), min(height, y2.px(height)))

    def _roi(self, alpha: np.ndarray) -> np.ndarray:
        h, w = alpha.shape
        x0, y0, x1, y1 = self.roi_box(w, h)
        out = np.zeros_like(alpha)
        out[y0:y1, x0:x1] = alpha[y0:y1, x0:x1]
        return out

    def _crop(self, rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        box = foreground_box(alpha)
        if box is None:
            return rgb, alpha
        x0, y0, x1, y1 = box
        bw, bh = x1 - x0, y1 - y0
        top, right, bottom, left = self.crop_margin
        # Percent margins are relative to the subject (remove.bg's rule).
        t, b, r, lft = top.px(bh), bottom.px(bh), right.px(bw), left.px(bw)
        return _window(rgb, alpha, (x0 - lft, y0 - t, x1 + r, y1 + b))

    def _place(self, rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        box = foreground_box(alpha)
        if box is None:
            return rgb, alpha
        h, w = alpha.shape
        x0, y0, x1, y1 = box
        sub_rgb, sub_alpha = rgb[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
        bw, bh = x1 - x0, y1 - y0
        if self.scale is not None:
            factor = self.scale * min(w / bw, h / bh)
            nw, nh = max(1, min(w, round(bw * factor))), max(1, min(h, round(bh * factor)))
            interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            sub_rgb = cv2.resize(np.ascontiguousarray(sub_rgb), (nw, nh), interpolation=interp)
            sub_alpha = cv2.resize(np.ascontiguousarray(sub_alpha), (nw, nh),
                                   interpolation=interp)
            bw, bh = nw, nh
        if self.position is None:  # scale alone implies centre (remove.bg's rule)
            px, py = (0.5, 0.5)
        else:
            px, py = self.position
        left, top = round(px * (w - bw)), round(py * (h - bh))
        out_rgb = np.zeros_like(rgb)
        out_alpha = np.zeros_like(alpha)
        out_rgb[top:top + bh, left:left + bw] = sub_rgb
        out_alpha[top:top + bh, left:left + bw] = sub_alpha
        return out_rgb, out_alpha


def _window(rgb: np.ndarray, alpha: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The region ``box`` of the image; parts outside it are transparent padding."""
    h, w = alpha.shape
    x0, y0, x1, y1 = box
    out_rgb = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    out_alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    out_rgb[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    out_alpha[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = alpha[sy0:sy1, sx0:sx1]
    return out_rgb, out_alpha


def _limit(rgb: np.ndarray, alpha: np.ndarray, max_pixels: int
           ) -> tuple[np.ndarray, np.ndarray]:
    h, w = alpha.shape
    if w * h <= max_pixels:
        return rgb, alpha
    factor = math.sqrt(max_pixels / (w * h))
    nw, nh = max(1, math.floor(w * factor)), max(1, math.floor(h * factor))
    while nw * nh > max_pixels:  # rounding must never exceed the limit
        nw -= 1
    return (cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA),
            cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA))
