"""Spec-driven pre/post-processing shared by every runtime (rembg parity: test_rembg_parity)."""

from __future__ import annotations

import numpy as np
import pytest

from bgbye.engines.preprocess import check_class, decode_output, preprocess
from bgbye.errors import InvalidOptionError
from bgbye.models.registry import bundled_specs

SPECS = bundled_specs()


def test_classes_pick_the_argmax_class() -> None:
    spec = SPECS["u2net_cloth_seg"]
    scores = np.zeros((1, 4, 4, 4), np.float32)
    scores[0, 1, :2] = 5  # top half: upper body
    scores[0, 2, 2:, :2] = 5  # bottom left: lower body
    scores[0, 0, 2:, 2:] = 5  # bottom right: background
    upper = decode_output(spec, scores, 4, 4, cls="upper")
    assert (upper[:2] == 255).all() and (upper[2:] == 0).all()
    everything = decode_output(spec, scores, 4, 4)  # the default class: all
    want = np.array([[255] * 4, [255] * 4, [255, 255, 0, 0], [255, 255, 0, 0]], np.uint8)
    assert (everything == want).all()
    # Upsampling a label map with Lanczos rings (rembg's order); the alpha stays binary.
    big = decode_output(spec, scores, 37, 29, cls="lower")
    assert big.shape == (29, 37) and set(np.unique(big)) <= {0, 255}
    assert big[-1, 0] == 255 and big[0, -1] == 0


def test_logits_get_a_sigmoid_then_minmax() -> None:
    spec = SPECS["birefnet-general"]
    logits = np.array([[[[-2.0, 0.0], [2.0, 4.0]]]], np.float32)
    sig = 1 / (1 + np.exp(-logits[0, 0]))
    want = ((sig - sig.min()) / (sig.max() - sig.min()) * 255).astype(np.uint8)
    assert (decode_output(spec, logits, 2, 2) == want).all()


def test_isnet_preprocessing_is_max_scaled_with_unit_std() -> None:
    rgb = np.full((8, 8, 3), 100, np.uint8)
    x = preprocess(SPECS["isnet-general-use"], rgb)
    assert x.shape == (1, 3, 1024, 1024) and x.dtype == np.float32
    assert np.allclose(x, 0.5, atol=1e-3)  # (100/100 - 0.5) / 1.0: divided by the max, not 255


def test_check_class() -> None:
    assert check_class(SPECS["u2net_cloth_seg"], None) == "all"
    assert check_class(SPECS["u2netp"], None) is None
    with pytest.raises(InvalidOptionError, match="no class 'hat'"):
        check_class(SPECS["u2net_cloth_seg"], "hat")
    with pytest.raises(InvalidOptionError, match="has no classes"):
        check_class(SPECS["u2netp"], "upper")
