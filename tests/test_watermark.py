"""The visible watermark on mocked results."""

from __future__ import annotations

import numpy as np
import pytest

from bgbye.watermark import apply_watermark, watermark_text


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    diff = np.abs(a.astype(int) - b.astype(int))
    if diff.ndim == 3:
        diff = diff.max(axis=-1)
    return float((diff > 60).mean())


@pytest.mark.parametrize("shape", [(120, 200), (120, 200, 3), (120, 200, 4), (7, 9, 3),
                                   (2000, 300, 3)])
def test_shape_and_dtype_are_kept_and_the_text_shows(shape: tuple[int, ...]) -> None:
    image = np.full(shape, 100, np.uint8)
    out = apply_watermark(image, "MOCKED remove.bg")
    assert out.shape == image.shape and out.dtype == np.uint8
    assert _changed(out, image) > 0.03
    assert np.array_equal(image, np.full(shape, 100, np.uint8)), "input left untouched"


def test_visible_on_white_black_and_transparent() -> None:
    for value in (0, 255):
        rgb = np.full((150, 150, 3), value, np.uint8)
        assert _changed(apply_watermark(rgb, "MOCKED"), rgb) > 0.03
    clear = np.zeros((150, 150, 4), np.uint8)
    out = apply_watermark(clear, "MOCKED")
    assert (out[:, :, 3] > 150).mean() > 0.03


def test_mask_gets_the_opposite_shade_on_both_sides() -> None:
    mask = np.zeros((160, 160), np.uint8)
    mask[:, 80:] = 255
    out = apply_watermark(mask, "MOCKED")
    assert (out[:, :80] > 150).mean() > 0.02  # light text on the background
    assert (out[:, 80:] < 100).mean() > 0.02  # dark text on the subject


def test_rejects_what_is_not_an_image() -> None:
    with pytest.raises(ValueError):
        apply_watermark(np.zeros((4, 4), np.float32), "x")


def test_watermark_text_only_for_mocked_results() -> None:
    assert watermark_text({}) is None
    assert watermark_text({"mocked": False, "watermark": "x"}) is None
    assert watermark_text({"mocked": True}) == "MOCKED"
    assert watermark_text({"mocked": True, "watermark": "MOCKED Clipdrop"}) == "MOCKED Clipdrop"
