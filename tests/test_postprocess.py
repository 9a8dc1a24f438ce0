from __future__ import annotations

import numpy as np
import pytest

from bgbye import imageio
from bgbye.errors import InvalidOptionError
from bgbye.options import RemoveOptions, parse_color
from bgbye.postprocess import compose, cutout, over, refine_alpha, subject_box


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((20, 30, 3), 200, np.uint8)
    alpha = np.zeros((20, 30), np.uint8)
    alpha[5:15, 10:20] = 255
    return rgb, alpha


@pytest.mark.parametrize(
    ("text", "rgba"),
    [
        ("#81d4fa", (129, 212, 250, 255)),
        ("fff", (255, 255, 255, 255)),
        ("81d4fa80", (129, 212, 250, 128)),
        ("green", (0, 255, 0, 255)),
    ],
)
def test_parse_color(text: str, rgba: tuple[int, int, int, int]) -> None:
    assert parse_color(text) == rgba


@pytest.mark.parametrize("bad", ["#12", "zzzzzz", "", "#1234567"])
def test_parse_color_rejects(bad: str) -> None:
    with pytest.raises(InvalidOptionError, match="Invalid colour"):
        parse_color(bad)


def test_cutout_zeroes_rgb_of_transparent_pixels() -> None:
    rgb, alpha = _scene()
    out = cutout(rgb, alpha)
    assert out.shape == (20, 30, 4)
    assert out[0, 0].tolist() == [0, 0, 0, 0] and out[10, 15].tolist() == [200, 200, 200, 255]


def test_background_colour_and_image() -> None:
    rgb, alpha = _scene()
    out = compose(rgb, alpha, RemoveOptions(bg_color="#ff0000"))
    assert out.shape == (20, 30, 3) and out[0, 0].tolist() == [255, 0, 0]
    bg = np.zeros((5, 5, 3), np.uint8)
    bg[..., 2] = 250
    out2 = compose(rgb, alpha, RemoveOptions(bg_image=imageio.encode(bg, "png")))
    assert out2[0, 0].tolist() == [0, 0, 250] and out2[10, 15].tolist() == [200, 200, 200]
    semi = compose(rgb, alpha, RemoveOptions(bg_color="00ff0080"))
    assert semi.shape == (20, 30, 4) and semi[0, 0].tolist() == [0, 255, 0, 128]


def test_semi_transparent_colour_composes_with_the_over_operator() -> None:
    """Red at alpha 128 over #0000ff80: out_a = a + ba(1-a), colour premultiplied / out_a.

    The old formula (src·a + c·(1-a), ignoring the colour's own alpha) gave (128, 0, 127):
    43 levels off in red and blue."""
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[:] = (255, 0, 0)
    alpha = np.full((1, 1), 128, np.uint8)
    out = compose(rgb, alpha, RemoveOptions(bg_color="#0000ff80"))
    a, ba = 128 / 255, 128 / 255
    out_a = a + ba * (1 - a)
    expected = [round(255 * a / out_a), 0, round(255 * ba * (1 - a) / out_a), round(out_a * 255)]
    assert out[0, 0].tolist() == expected == [170, 0, 85, 192]
    # A fully transparent colour leaves the cut-out as it was; an opaque one is plain blending.
    clear = compose(rgb, alpha, RemoveOptions(bg_color="#0000ff00"))
    assert clear[0, 0].tolist() == [255, 0, 0, 128]
    opaque = over(rgb, alpha, np.array([[[0.0, 0.0, 255.0]]], np.float32), 1.0)
    assert opaque[0, 0].tolist() == [128, 0, 127]


def test_crop_with_margin_and_mask_only() -> None:
    rgb, alpha = _scene()
    assert subject_box(alpha, 2) == (8, 3, 22, 17)
    out = compose(rgb, alpha, RemoveOptions(crop=True, margin=2, mask_only=True))
    assert out.shape == (14, 14) and out[0, 0] == 0 and out[7, 7] == 255
    assert subject_box(np.zeros((4, 4), np.uint8), 3) == (0, 0, 4, 4)


def test_refine_clears_haze_and_keeps_the_edge_ramp() -> None:
    alpha = np.arange(256, dtype=np.uint8).reshape(16, 16)
    refined = refine_alpha(alpha)
    assert refined.dtype == np.uint8 and refined.shape == alpha.shape
    flat = refined.ravel().astype(int)
    assert flat[:65].max() == 0  # faint haze over the background goes
    assert flat[192:].min() == 255  # a subject's near-opaque pixels become opaque
    assert (np.diff(flat) >= 0).all() and 0 < flat[128] < 255  # a soft ramp in between
    rgb = np.zeros((16, 16, 3), np.uint8)
    served = compose(rgb, alpha, RemoveOptions(mask_only=True, refine=True))
    assert np.array_equal(served, refined)  # what --refine serves
    with pytest.raises(ValueError):
        refine_alpha(alpha, (200, 100))


def test_option_validation() -> None:
    png = imageio.encode(np.zeros((2, 2, 3), np.uint8), "png")
    with pytest.raises(InvalidOptionError):
        RemoveOptions(format="gif")
    with pytest.raises(InvalidOptionError):
        RemoveOptions(bg_color="#fff", bg_image=png)
    with pytest.raises(InvalidOptionError):
        RemoveOptions(mask_only=True, bg_color="#fff")
    with pytest.raises(InvalidOptionError, match="margin"):
        RemoveOptions(margin=-1)
