"""Composite a cut-out subject onto a new background, with jitter and soft edges.

Everything random comes from one ``numpy.random.Generator`` per composite, seeded from the
run seed and the composite's name, so a composite can be rebuilt exactly from its manifest row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bgbye import imageio
from bgbye_pipelines.pipelines.data_ingestion.pairing import IMAGE_SUFFIXES
from bgbye_pipelines.pipelines.data_ingestion.synthetic import texture


@dataclass(frozen=True)
class Jitter:
    scale: tuple[float, float] = (0.45, 0.9)  # subject's longer side / canvas shorter side
    brightness: float = 0.15  # +- multiplicative
    contrast: float = 0.15
    saturation: float = 0.2
    hue_degrees: float = 8.0
    feather: tuple[float, float] = (0.5, 2.0)  # Gaussian sigma of the edge softening, pixels
    flip: bool = True

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> Jitter:
        return cls(
            scale=(float(p.get("scale", cls.scale)[0]), float(p.get("scale", cls.scale)[1])),
            brightness=float(p.get("brightness", cls.brightness)),
            contrast=float(p.get("contrast", cls.contrast)),
            saturation=float(p.get("saturation", cls.saturation)),
            hue_degrees=float(p.get("hue_degrees", cls.hue_degrees)),
            feather=(
                float(p.get("feather", cls.feather)[0]),
                float(p.get("feather", cls.feather)[1]),
            ),
            flip=bool(p.get("flip", cls.flip)),
        )


def list_backgrounds(folder: str | None) -> list[str]:
    if not folder or not os.path.isdir(folder):
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found += [
            os.path.join(dirpath, n)
            for n in sorted(filenames)
            if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES
        ]
    return found


def background(
    rng: np.random.Generator, files: list[str], width: int, height: int
) -> tuple[np.ndarray, str]:
    """A random crop of a background image (cover-scaled), or a generated texture."""
    if not files:
        return texture(rng, height, width), "generated-texture"
    path = files[int(rng.integers(len(files)))]
    img = imageio.decode(Path(path).read_bytes())
    h, w = img.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.3)
    img = cv2.resize(
        img,
        (max(width, round(w * scale)), max(height, round(h * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    y = int(rng.integers(img.shape[0] - height + 1))
    x = int(rng.integers(img.shape[1] - width + 1))
    return np.ascontiguousarray(img[y : y + height, x : x + width]), path


def crop_to_subject(
    rgb: np.ndarray, alpha: np.ndarray, margin: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(alpha > 10)
    if len(ys) == 0:
        return rgb, alpha
    pad = int(margin * max(alpha.shape))
    y0, y1 = max(0, ys.min() - pad), min(alpha.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(alpha.shape[1], xs.max() + pad + 1)
    return rgb[y0:y1, x0:x1], alpha[y0:y1, x0:x1]


def colour_jitter(
    rgb: np.ndarray, rng: np.random.Generator, j: Jitter
) -> tuple[np.ndarray, dict[str, float]]:
    b = 1 + rng.uniform(-j.brightness, j.brightness)
    c = 1 + rng.uniform(-j.contrast, j.contrast)
    s = 1 + rng.uniform(-j.saturation, j.saturation)
    h = rng.uniform(-j.hue_degrees, j.hue_degrees)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + h / 2) % 180  # OpenCV hue is 0..180
    hsv[..., 1] = np.clip(hsv[..., 1] * s, 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = out.mean()
    out = (out - mean) * c + mean * b
    return out.clip(0, 255).astype(np.uint8), {
        "brightness": b,
        "contrast": c,
        "saturation": s,
        "hue_degrees": h,
    }


def composite(
    rgb: np.ndarray, alpha: np.ndarray, bg: np.ndarray, rng: np.random.Generator, j: Jitter
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Place the subject on ``bg``; returns (image, alpha matte, what was done)."""
    height, width = bg.shape[:2]
    rgb, alpha = crop_to_subject(rgb, alpha)
    if j.flip and rng.random() < 0.5:
        rgb, alpha, flipped = rgb[:, ::-1], alpha[:, ::-1], True
    else:
        flipped = False
    rgb, colour = colour_jitter(np.ascontiguousarray(rgb), rng, j)
    target = rng.uniform(*j.scale) * min(width, height)
    scale = min(target / max(alpha.shape), width / alpha.shape[1], height / alpha.shape[0])
    sw, sh = max(1, round(alpha.shape[1] * scale)), max(1, round(alpha.shape[0] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(rgb, (sw, sh), interpolation=interp)
    alpha = cv2.resize(np.ascontiguousarray(alpha), (sw, sh), interpolation=interp)
    x = int(rng.integers(0, width - sw + 1))
    y = int(rng.integers(0, height - sh + 1))
    matte: np.ndarray = np.zeros((height, width), np.float32)
    matte[y : y + sh, x : x + sw] = alpha.astype(np.float32) / 255.0
    fg = np.zeros_like(bg)
    fg[y : y + sh, x : x + sw] = rgb
    sigma = rng.uniform(*j.feather)
    if sigma > 0:
        # Soft edges. Erode first so the blur spreads to about the original outline and not
        # beyond it, where the old background would bleed in as a halo. The softened matte is
        # the ground truth, so image and mask stay in step.
        k = 2 * round(sigma) + 1
        matte = cv2.erode(matte, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        matte = cv2.GaussianBlur(matte, (0, 0), sigmaX=sigma)
    matte8 = (matte * 255).round().astype(np.uint8)
    a = matte8.astype(np.float32)[..., None] / 255.0  # blend with exactly the saved matte
    image = (fg.astype(np.float32) * a + bg.astype(np.float32) * (1 - a)).round().clip(0, 255)
    info = {
        "scale": round(scale, 4),
        "x": x,
        "y": y,
        "flip": flipped,
        "feather_sigma": round(sigma, 3),
        **{k: round(v, 4) for k, v in colour.items()},
    }
    return image.astype(np.uint8), matte8, info
