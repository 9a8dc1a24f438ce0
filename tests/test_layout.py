"""bgbye.layout: roi, crop with margins, scale and position, size limit (pure arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from bgbye.layout import ZERO, Layout, Length, foreground_box


def subject(w: int = 100, h: int = 80, box: tuple[int, int, int, int] = (20, 10, 60, 50)
            ) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((h, w, 3), 7, np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = box
    alpha[y0:y1, x0:x1] = 255
    rgb[y0:y1, x0:x1] = (200, 100, 50)
    return rgb, alpha


def test_no_layout_is_identity() -> None:
    rgb, alpha = subject()
    out_rgb, out_alpha = Layout().apply(rgb, alpha)
    assert np.array_equal(out_rgb, rgb) and np.array_equal(out_alpha, alpha)


def test_roi_in_pixels_and_percent() -> None:
    rgb, alpha = subject()
    _, a = Layout(roi=(Length(0), Length(0), Length(40), Length(80))).apply(rgb, alpha)
    assert foreground_box(a) == (20, 10, 40, 50)
    _, a = Layout(roi=(Length(0), Length(50, True), Length(100, True), Length(100, True))
                  ).apply(rgb, alpha)
    assert foreground_box(a) == (20, 40, 60, 50)


def test_crop_margins_pad_beyond_the_image() -> None:
    rgb, alpha = subject()
    r, a = Layout(crop=True).apply(rgb, alpha)
    assert a.shape == (40, 40) and a.min() == 255 and tuple(r[0, 0]) == (200, 100, 50)
    margin = (Length(15), Length(5), Length(0), Length(25))  # top right bottom left
    r, a = Layout(crop=True, crop_margin=margin).apply(rgb, alpha)
    assert a.shape == (40 + 15, 40 + 5 + 25)
    assert foreground_box(a) == (25, 15, 65, 55)
    assert a[0:5, 0:5].max() == 0 and r[0:5, 0:5].max() == 0  # padding above/left: transparent
    r, a = Layout(crop=True, crop_margin=(Length(10, True),) * 4).apply(rgb, alpha)
    assert a.shape == (48, 48)  # 10 % of the 40 px subject on each side


def test_scale_centres_and_position_places() -> None:
    rgb, alpha = subject()
    _, a = Layout(scale=0.5).apply(rgb, alpha)
    assert a.shape == (80, 100)
    x0, y0, x1, y1 = foreground_box(a) or (0, 0, 0, 0)
    assert (x1 - x0, y1 - y0) == (40, 40)  # 50 % of the largest fit (80x80)
    assert (x0, y0) == (30, 20)
    _, a = Layout(scale=1.0, position=(0.0, 1.0)).apply(rgb, alpha)
    assert foreground_box(a) == (0, 0, 80, 80)
    _, a = Layout(position=(1.0, 0.0)).apply(rgb, alpha)
    assert foreground_box(a) == (60, 0, 100, 40)


@pytest.mark.parametrize(("w", "h", "limit"), [(1000, 800, 250_000), (640, 480, 250_000),
                                               (3000, 200, 60_000)])
def test_size_limit_never_exceeds(w: int, h: int, limit: int) -> None:
    rgb, alpha = subject(w, h, (0, 0, w // 2, h // 2))
    r, a = Layout(max_pixels=limit).apply(rgb, alpha)
    assert a.shape == r.shape[:2]
    assert a.size <= limit
    if w * h > limit:
        assert a.size >= limit * 0.97
        assert abs(a.shape[1] / a.shape[0] - w / h) < 0.05 * w / h + 1 / a.shape[0]
    else:
        assert a.shape == (h, w)


def test_empty_subject_is_left_alone() -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    alpha = np.zeros((10, 10), np.uint8)
    _, a = Layout(crop=True, crop_margin=(ZERO,) * 4, scale=0.5).apply(rgb, alpha)
    assert a.shape == (10, 10)
