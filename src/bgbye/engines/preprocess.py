"""Spec-driven pre- and post-processing, separate from any runtime's session.

Every runtime (ONNX Runtime, OpenVINO) feeds ``preprocess`` to its session and hands the output
to ``decode_output``; the rules for each model live in its ModelSpec, nowhere else. The float
arithmetic and resampling follow rembg's sessions step by step (tests/test_rembg_parity.py
proves it for every catalogue model).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from bgbye.errors import InvalidOptionError
from bgbye.models.spec import ModelSpec, OutputPolicy

_PIL_RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
}
ALL_CLASSES = "all"


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def input_size(spec: ModelSpec, width: int, height: int) -> tuple[int, int]:
    """(W, H) of the network input for an image of this size."""
    pol = spec.input
    if pol.resize == "fixed":
        return pol.size[0], pol.size[-1]
    if pol.resize == "short_side":
        scale = pol.size[0] / min(width, height)
        return _round_to(width * scale, pol.multiple), _round_to(height * scale, pol.multiple)
    return _round_to(width, pol.multiple), _round_to(height, pol.multiple)


def preprocess(spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, h, w) float32, exactly as the spec says."""
    pol = spec.input
    h, w = rgb.shape[:2]
    tw, th = input_size(spec, w, h)
    if (tw, th) != (w, h):
        resized = np.asarray(
            Image.fromarray(rgb).resize((tw, th), _PIL_RESAMPLE[pol.resample]), dtype=np.float32
        )
    else:
        resized = rgb.astype(np.float32)
    if pol.scale == "max":
        resized /= max(float(resized.max()), 1e-6)
    else:
        resized /= 255.0
    mean = np.asarray(pol.mean, dtype=np.float32)
    std = np.asarray(pol.std, dtype=np.float32)
    x = (resized - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def check_class(spec: ModelSpec, name: str | None) -> str | None:
    """The class a multi-class model cuts out (its default when ``name`` is None)."""
    pol = spec.output
    if pol.kind != "classes":
        if name is not None:
            raise InvalidOptionError(f"Model {spec.name!r} has no classes; drop ':{name}'.")
        return None
    chosen = name or pol.default_class or ALL_CLASSES
    if chosen not in pol.class_names:
        raise InvalidOptionError(
            f"Model {spec.name!r} has no class {chosen!r}; choose one of "
            f"{', '.join(pol.class_names)}."
        )
    return chosen


def _resize_lanczos(img8: np.ndarray, width: int, height: int) -> np.ndarray:
    # rembg resizes the 8-bit mask with Lanczos; doing the same keeps parity with it.
    if img8.shape == (height, width):
        return img8
    return np.asarray(Image.fromarray(img8).resize((width, height), Image.Resampling.LANCZOS))


def _class_alpha(
    pol: OutputPolicy, out: np.ndarray, cls: str, width: int, height: int
) -> np.ndarray:
    scores = np.asarray(out, dtype=np.float32)
    while scores.ndim > 3:
        scores = scores[0]
    # rembg takes the argmax of log_softmax; softmax is monotonic, so argmax of the raw scores.
    labels = np.argmax(scores, axis=0).astype(np.uint8)
    # The label map itself is resized with Lanczos (rembg's order), then classes are picked:
    # like rembg, a pixel counts for a class only where the resized label equals it exactly
    # (ringing makes in-between labels at class borders).
    labels = _resize_lanczos(labels, width, height)
    wanted = [v for k, v in pol.classes.items() if cls in (k, ALL_CLASSES)]
    return np.where(np.isin(labels, wanted), 255, 0).astype(np.uint8)


def decode_output(
    spec: ModelSpec, out: np.ndarray, width: int, height: int, *, cls: str | None = None
) -> np.ndarray:
    """Network output (1, C, h, w) -> (height, width) uint8 alpha."""
    pol = spec.output
    if pol.kind == "classes":
        return _class_alpha(pol, out, check_class(spec, cls) or ALL_CLASSES, width, height)
    pred: np.ndarray = np.asarray(out, dtype=np.float32)
    while pred.ndim > 2:
        pred = pred[0] if pred.shape[0] == 1 or pred.ndim > 3 else pred[pol.channel]
    if pol.kind == "logits":
        pred = 1.0 / (1.0 + np.exp(-np.clip(pred, -50, 50)))
    if pol.normalize == "minmax":
        lo, hi = float(pred.min()), float(pred.max())
        pred = (pred - lo) / max(hi - lo, 1e-6)
    alpha8 = np.clip(pred * 255.0, 0, 255).astype(np.uint8)
    return _resize_lanczos(alpha8, width, height)
