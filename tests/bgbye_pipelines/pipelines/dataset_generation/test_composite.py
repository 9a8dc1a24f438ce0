from __future__ import annotations

from pathlib import Path

import numpy as np

from bgbye_pipelines.pipelines.dataset_generation.composite import (
    Jitter,
    background,
    composite,
    list_backgrounds,
)
from tests.bgbye_pipelines.fixtures import write_png


def subject() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((60, 40, 3), np.uint8)
    rgb[:] = (200, 40, 40)
    alpha = np.zeros((60, 40), np.uint8)
    alpha[10:50, 10:30] = 255
    return rgb, alpha


def test_composite_places_a_soft_edged_subject() -> None:
    rgb, alpha = subject()
    bg = np.full((80, 100, 3), (0, 0, 255), np.uint8)
    image, matte, info = composite(
        rgb, alpha, bg, np.random.default_rng(0), Jitter(feather=(1.5, 1.5))
    )
    assert image.shape == (80, 100, 3) and matte.shape == (80, 100)
    assert ((matte > 0) & (matte < 255)).any()  # soft edges
    inside = matte > 250
    assert inside.any() and (image[inside][:, 0] > image[inside][:, 2]).all()  # red subject
    assert (image[matte == 0] == (0, 0, 255)).all()  # untouched background
    ys, xs = np.nonzero(matte)
    assert xs.min() >= info["x"] - 4 and ys.min() >= info["y"] - 4


def test_composite_is_deterministic_per_seed() -> None:
    rgb, alpha = subject()
    bg = np.zeros((64, 64, 3), np.uint8)
    a = composite(rgb, alpha, bg, np.random.default_rng(7), Jitter())
    b = composite(rgb, alpha, bg, np.random.default_rng(7), Jitter())
    c = composite(rgb, alpha, bg, np.random.default_rng(8), Jitter())
    assert np.array_equal(a[0], b[0]) and a[2] == b[2] and a[2] != c[2]


def test_backgrounds_from_folder_or_generated(tmp_path: Path) -> None:
    write_png(tmp_path / "bg" / "one.png", np.full((30, 50, 3), 77, np.uint8))
    files = list_backgrounds(str(tmp_path / "bg"))
    img, ref = background(np.random.default_rng(0), files, 64, 48)
    assert img.shape == (48, 64, 3) and ref.endswith("one.png") and (img == 77).all()
    img, ref = background(np.random.default_rng(0), [], 64, 48)
    assert img.shape == (48, 64, 3) and ref == "generated-texture" and img.std() > 0
    assert list_backgrounds(None) == [] and list_backgrounds(str(tmp_path / "none")) == []
