"""ONNX Runtime engine: preprocessing and output decoding come from the ModelSpec."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bgbye.engines.base import Prediction
from bgbye.engines.runtime import Session, open_session
from bgbye.models.spec import ModelSpec

_PIL_RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
}


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


def decode_output(spec: ModelSpec, out: np.ndarray, width: int, height: int) -> np.ndarray:
    """Network output (1, C, h, w) -> (height, width) uint8 alpha."""
    pol = spec.output
    pred: np.ndarray = np.asarray(out, dtype=np.float32)
    while pred.ndim > 2:
        pred = pred[0] if pred.shape[0] == 1 or pred.ndim > 3 else pred[pol.channel]
    if pol.kind == "logits":
        pred = 1.0 / (1.0 + np.exp(-np.clip(pred, -50, 50)))
    if pol.normalize == "minmax":
        lo, hi = float(pred.min()), float(pred.max())
        pred = (pred - lo) / max(hi - lo, 1e-6)
    alpha8 = np.clip(pred * 255.0, 0, 255).astype(np.uint8)
    if alpha8.shape != (height, width):
        # rembg resizes the 8-bit mask with Lanczos; doing the same keeps parity with it.
        alpha8 = np.asarray(
            Image.fromarray(alpha8).resize((width, height), Image.Resampling.LANCZOS)
        )
    return alpha8


class OnnxEngine:
    """One session per model per process; ``run`` is thread-safe on both runtimes.

    The runtime (ONNX Runtime or OpenVINO) is chosen in ``engines.runtime``; everything the
    ModelSpec says (preprocess, decode_output) is the same whichever runs.
    """

    def __init__(
        self,
        spec: ModelSpec,
        path: Path,
        *,
        threads: int = 0,
        runtime: str = "onnxruntime",
        precision: str = "fp32",
        streams: int = 1,
    ):
        self.spec = spec
        self.path = Path(path)
        self.name = spec.name
        self.session: Session = open_session(
            self.path, runtime=runtime, precision=precision, threads=threads, streams=streams
        )
        self.runtime = self.session.runtime
        self.precision = self.session.precision
        suffix = "" if self.precision == "fp32" else f", {self.precision}"
        self.label = f"{spec.name} (ONNX{suffix})"

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        h, w = rgb.shape[:2]
        x = preprocess(self.spec, rgb)
        out = self.session.run(x, self.spec.output.index)
        alpha = decode_output(self.spec, out, w, h)
        return Prediction(alpha=alpha, info={"engine": self.name})

    @property
    def batchable(self) -> bool:
        """Several images in one run: fixed-size input and a dynamic batch dimension."""
        return self.spec.input.resize == "fixed" and self.spec.input.dynamic_batch

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        """One run for the whole list where the graph allows it (the GPU case), else one run
        per image; the alphas are the same either way."""
        if not self.batchable or len(images) < 2:
            return [self.predict(rgb) for rgb in images]
        x = np.concatenate([preprocess(self.spec, rgb) for rgb in images])
        out = self.session.run(x, self.spec.output.index)
        return [
            Prediction(
                alpha=decode_output(self.spec, out[i : i + 1], rgb.shape[1], rgb.shape[0]),
                info={"engine": self.name},
            )
            for i, rgb in enumerate(images)
        ]


def resize_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
