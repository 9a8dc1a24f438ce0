"""How provider result images become an alpha matte of the input's size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgbye.engines.providers.base import alpha_from_result
from bgbye.engines.providers.errors import ProviderBadResponseError


def _png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def test_rgba_result_gives_its_alpha_channel() -> None:
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[2:8, 5:15, 3] = 200
    alpha = alpha_from_result(_png(rgba), 20, 10, mask_expected=False, provider="x")
    np.testing.assert_array_equal(alpha, rgba[:, :, 3])


def test_grey_mask_result_is_read_as_alpha_when_a_mask_was_asked() -> None:
    mask = np.zeros((10, 20), np.uint8)
    mask[3:7] = 255
    np.testing.assert_array_equal(
        alpha_from_result(_png(mask), 20, 10, mask_expected=True, provider="x"), mask)
    rgb = np.repeat(mask[:, :, None], 3, axis=2)  # the same mask stored as RGB
    np.testing.assert_array_equal(
        alpha_from_result(_png(rgb), 20, 10, mask_expected=True, provider="x"), mask)


def test_opaque_colour_result_is_refused_when_transparency_was_asked() -> None:
    rgb = np.full((10, 20, 3), 90, np.uint8)
    with pytest.raises(ProviderBadResponseError, match="without transparency"):
        alpha_from_result(_png(rgb), 20, 10, mask_expected=False, provider="x")


def test_smaller_result_is_resized_and_a_cropped_one_refused() -> None:
    mask = np.full((5, 10), 255, np.uint8)
    alpha = alpha_from_result(_png(mask), 20, 10, mask_expected=True, provider="x")
    assert alpha.shape == (10, 20) and int(alpha.min()) == 255
    with pytest.raises(ProviderBadResponseError, match="aspect ratio"):
        alpha_from_result(_png(np.full((10, 10), 255, np.uint8)), 40, 10, mask_expected=True,
                          provider="x")


def test_garbage_is_a_bad_response() -> None:
    with pytest.raises(ProviderBadResponseError, match="not a usable image"):
        alpha_from_result(b"<html>oops</html>", 20, 10, mask_expected=True, provider="x")
