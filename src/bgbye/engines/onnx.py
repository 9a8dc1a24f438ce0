"""The ONNX model engine: preprocessing and output decoding come from the ModelSpec.

Session creation is kept apart from the spec-driven processing in ``bgbye.engines.preprocess``:
``bgbye.engines.runtime`` opens the file on ONNX Runtime (``create_session``) or OpenVINO, at the
chosen precision, and both run the same pre/post-processing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bgbye.engines.base import Prediction
from bgbye.engines.preprocess import check_class, decode_output, input_size, preprocess
from bgbye.engines.runtime import Session, create_session, open_session
from bgbye.models.licence import licence_info
from bgbye.models.spec import ModelSpec

__all__ = ["OnnxEngine", "create_session", "decode_output", "input_size", "preprocess"]


class OnnxEngine:
    """One session per model per process; ``run`` is thread-safe on both runtimes.

    ``cls`` picks the class of a multi-class model (u2net_cloth_seg: upper, lower, full, all).
    ``runtime``/``precision`` say what runs it (see ``engines.runtime``); the label names a
    reduced precision, so every result says what produced it.
    """

    def __init__(
        self,
        spec: ModelSpec,
        path: Path,
        *,
        threads: int = 0,
        cls: str | None = None,
        runtime: str = "onnxruntime",
        precision: str = "fp32",
        streams: int = 1,
    ):
        self.spec = spec
        self.path = Path(path)
        self.cls = check_class(spec, cls)
        self.name = spec.name if self.cls is None else f"{spec.name}:{self.cls}"
        self.session: Session = open_session(
            self.path, runtime=runtime, precision=precision, threads=threads, streams=streams
        )
        self.runtime = self.session.runtime
        self.precision = self.session.precision
        suffix = "" if self.precision == "fp32" else f", {self.precision}"
        self.label = f"{self.name} (ONNX{suffix})"
        self._info: dict[str, Any] = {"engine": self.name, **licence_info(spec)}

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        h, w = rgb.shape[:2]
        x = preprocess(self.spec, rgb)
        out = self.session.run(x, self.spec.output.index)
        alpha = decode_output(self.spec, out, w, h, cls=self.cls)
        return Prediction(alpha=alpha, info=dict(self._info))

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
                alpha=decode_output(
                    self.spec, out[i : i + 1], rgb.shape[1], rgb.shape[0], cls=self.cls
                ),
                info=dict(self._info),
            )
            for i, rgb in enumerate(images)
        ]


def resize_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
