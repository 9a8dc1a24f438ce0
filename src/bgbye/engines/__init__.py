"""Engine loading: a model name or path, ``heuristic``, or an online provider name.

Engines are cached per process so each model is loaded once (one ORT session per model).
"""

from __future__ import annotations

import logging
import os
import threading

from bgbye.engines.base import Engine, Prediction
from bgbye.engines.heuristic import HeuristicEngine
from bgbye.engines.onnx import OnnxEngine
from bgbye.engines.runtime import effective_precision, resolve_runtime, validate
from bgbye.engines.variants import variant_entry
from bgbye.models.registry import HEURISTIC, Registry
from bgbye.monitoring import Metrics
from bgbye.settings import Settings

__all__ = ["Engine", "EngineCache", "HeuristicEngine", "OnnxEngine", "Prediction",
           "threads_per_worker"]
log = logging.getLogger(__name__)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """ONNX Runtime threads per engine call when ``workers`` images run at once.

    Each worker runs one image at a time; giving each run its share of the cores avoids
    oversubscribing them (measured in bench/batch.py). The CLI's workers, the server's pool
    and the Ray actors all size their sessions with this.
    """
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


class EngineCache:
    """Loads each engine once; thread-safe. ``metrics`` (the server's) counts provider calls;
    without it nothing is recorded. ``runtime`` and ``precision`` default to the settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        threads: int | None = None,
        metrics: Metrics | None = None,
        runtime: str | None = None,
        precision: str | None = None,
    ):
        self.settings = settings
        self.metrics = metrics
        self.registry = Registry(settings)
        self.threads = settings.threads if threads is None else threads
        self.runtime = runtime or settings.runtime
        self.precision = precision or settings.precision
        validate(self.runtime, self.precision)
        self._engines: dict[str, Engine] = {}
        # Reentrant: provider fallback lists load their local entries while the list loads.
        self._lock = threading.RLock()

    def get(self, ref: str | None = None) -> Engine:
        key = ref or self.settings.default_model
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._load(key)
                self._engines[key] = engine
            return engine

    def _load(self, ref: str) -> Engine:
        from bgbye.engines import providers

        if ref == HEURISTIC:
            log.warning("using the heuristic engine: %s", HeuristicEngine.label)
            return HeuristicEngine()
        if providers.is_provider_ref(ref):
            return providers.build(ref, self.settings, self)
        entry = self.registry.resolve(ref)
        runtime = resolve_runtime(self.runtime)
        precision = effective_precision(runtime, self.precision)
        if precision == "int8":
            entry = variant_entry(self.registry, entry, "int8")
        assert entry.path is not None
        # Each executor worker runs one image at a time with `threads` threads, so a runtime
        # that runs requests side by side (OpenVINO streams) needs cores // threads of them.
        streams = max(1, (os.cpu_count() or 1) // max(1, self.threads))
        return OnnxEngine(
            entry.spec,
            entry.path,
            threads=self.threads,
            cls=entry.cls,
            runtime=runtime,
            precision=precision,
            streams=streams,
        )
