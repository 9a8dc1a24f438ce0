"""Remover: the one call path every front end uses (decode -> engine -> compose -> encode)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from bgbye import imageio
from bgbye.engines import EngineCache
from bgbye.engines.base import Engine, Prediction
from bgbye.layout import Box, foreground_box
from bgbye.options import RemoveOptions
from bgbye.postprocess import compose
from bgbye.settings import Settings
from bgbye.watermark import apply_watermark, watermark_text


@dataclass
class RemoveResult:
    data: bytes
    media_type: str
    format: str
    width: int
    height: int
    engine: str  # the engine's label: what produced this result
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    foreground: Box | None = None  # the subject's box in the result, when a layout was asked


@lru_cache(maxsize=2)
def _decode_background(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    """A batch composes every photo onto the same background: decode it once (bytes hash once,
    Python caches it). Read-only, since every caller shares the array."""
    rgb = imageio.decode(data, max_bytes=max_bytes, max_pixels=max_pixels)
    rgb.flags.writeable = False
    return rgb


class Remover:
    """Holds one engine; thread-safe (ORT sessions and our stages keep no per-call state).

    ``settings`` only sets the decode limits; without it the defaults apply (the environment
    is never read here: the CLI and the server pass their own Settings).
    """

    def __init__(self, engine: Engine, settings: Settings | None = None):
        self.engine = engine
        self.settings = settings if settings is not None else Settings.defaults()

    @classmethod
    def from_model(
        cls,
        model: str | None = None,
        settings: Settings | None = None,
        *,
        threads: int | None = None,
        precision: str | None = None,
        runtime: str | None = None,
    ) -> Remover:
        """``precision`` (fp32|bf16|int8) and ``runtime`` (auto|onnxruntime|openvino) default
        to the settings (BGBYE_PRECISION, BGBYE_RUNTIME)."""
        settings = settings if settings is not None else Settings.defaults()
        cache = EngineCache(settings, threads=threads, runtime=runtime, precision=precision)
        return cls(cache.get(model), settings)

    # The stages are public so batch executors can overlap them across threads.
    def decode(self, data: bytes) -> np.ndarray:
        return imageio.decode(
            data, max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels
        )

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        pred = self.engine.predict(rgb, source=source)
        if pred.alpha.shape != rgb.shape[:2] or pred.alpha.dtype != np.uint8:
            raise RuntimeError(f"engine {self.engine.name} returned a mask of the wrong shape")
        return pred

    def finish(
        self,
        rgb: np.ndarray,
        alpha: np.ndarray,
        options: RemoveOptions,
        *,
        watermark: str | None = None,
    ) -> tuple[bytes, np.ndarray]:
        """Compose and encode; ``watermark`` (see ``watermark_text(pred.info)``) is stamped
        visibly on results that must not pass for what was asked (mocked providers)."""
        fmt = options.output_format
        if fmt == "jpg" and not options.mask_only and not options.has_background:
            options = options.model_copy(update={"bg_color": "ffffff"})  # JPEG has no alpha
        background = None
        if options.bg_image is not None:
            background = _decode_background(options.bg_image, self.settings.max_upload_bytes,
                                            self.settings.max_pixels)
        out = compose(rgb, alpha, options, background)
        if watermark:
            out = apply_watermark(out, watermark)
        return imageio.encode(out, fmt), out

    def remove_array(self, rgb: np.ndarray) -> np.ndarray:
        """Alpha (H, W) uint8 for an RGB array: what evaluation scores."""
        return self.predict(rgb).alpha

    def remove_bytes(self, data: bytes, options: RemoveOptions | None = None) -> RemoveResult:
        options = options if options is not None else RemoveOptions()
        start = time.perf_counter()
        rgb = self.decode(data)
        pred = self.predict(rgb, source=data)
        alpha, foreground = pred.alpha, None
        if options.layout is not None:  # placement between the engine and the composition
            rgb, alpha = options.layout.apply(rgb, alpha)
            foreground = foreground_box(alpha)
            options = options.model_copy(update={"layout": None})
        encoded, out = self.finish(rgb, alpha, options, watermark=watermark_text(pred.info))
        return RemoveResult(
            data=encoded,
            media_type=imageio.MEDIA_TYPES[options.output_format],
            format=options.output_format,
            width=int(out.shape[1]),
            height=int(out.shape[0]),
            engine=str(pred.info.get("label", self.engine.label)),
            seconds=time.perf_counter() - start,
            info=pred.info,
            foreground=foreground,
        )
