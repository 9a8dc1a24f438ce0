"""Fallback lists such as ``removebg,local``: try each engine in order, report who answered."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from bgbye.engines.base import Engine, Prediction
from bgbye.engines.providers.mocked import MockedProviderEngine
from bgbye.errors import BgbyeError, ProviderError

log = logging.getLogger(__name__)


class FallbackEngine:
    """``entries`` are (what the user wrote, engine) pairs, in the order to try them.

    A provider without a key is skipped while a later entry can answer for real; only when
    every real entry failed does its watermarked mocked result stand in.
    """

    def __init__(self, entries: list[tuple[str, Engine]]):
        if not entries:
            raise ValueError("a fallback list needs at least one entry")
        self.entries = entries
        self.name = ",".join(ref for ref, _ in entries)
        self.label = " -> ".join(engine.label for _, engine in entries)

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        failures: list[dict[str, Any]] = []
        last_error: BgbyeError | None = None
        standby: tuple[str, MockedProviderEngine] | None = None
        for ref, engine in self.entries:
            if isinstance(engine, MockedProviderEngine):
                failures.append({"engine": ref, "code": "provider_not_configured",
                                 "message": f"{engine.key_env} is not set"})
                standby = standby or (ref, engine)
                continue
            try:
                pred = engine.predict(rgb, source=source)
            except BgbyeError as exc:
                log.warning("%s failed, trying the next engine: %s", ref, exc.message)
                failures.append({"engine": ref, "code": exc.code, "message": exc.message})
                last_error = exc
                continue
            return self._answer(ref, engine, pred, failures)
        if standby is not None:
            ref, engine = standby
            return self._answer(ref, engine, engine.predict(rgb, source=source), failures)
        assert last_error is not None
        reasons = "; ".join(f"{f['engine']}: {f['message']}" for f in failures)
        raise ProviderError(f"No engine in {self.name!r} answered. {reasons}",
                            code=last_error.code, http_status=last_error.http_status)

    @staticmethod
    def _answer(ref: str, engine: Engine, pred: Prediction,
                failures: list[dict[str, Any]]) -> Prediction:
        info = dict(pred.info)
        info.setdefault("label", engine.label)
        info["answered_by"] = ref
        info["fallback_errors"] = failures
        return Prediction(alpha=pred.alpha, info=info)
