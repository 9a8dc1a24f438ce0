"""A provider without an API key: the seed's behaviour, a watermarked local result.

The result is the default local model's, labelled and flagged ``mocked`` so that
:class:`bgbye.remover.Remover` watermarks it and no front end can pass it off as the provider's.
"""

from __future__ import annotations

import logging

import numpy as np

from bgbye.engines.base import Engine, Prediction
from bgbye.monitoring import Metrics

log = logging.getLogger(__name__)


class MockedProviderEngine:
    def __init__(self, provider: str, display_name: str, key_env: str, local: Engine,
                 metrics: Metrics | None = None):
        self.name = provider
        self.display_name = display_name
        self.key_env = key_env
        self.local = local
        self.metrics = metrics
        self.label = f"{display_name} (mocked: no API key; local model result, watermarked)"
        self.watermark = f"MOCKED {display_name}: no API key"
        log.warning("%s is not set: %s results are mocked with the local model %s, watermarked",
                    key_env, display_name, local.name)

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        pred = self.local.predict(rgb, source=source)
        if self.metrics is not None:
            self.metrics.provider_calls.labels(self.name, "mocked").inc()
        info = {
            "mocked": True,
            "provider": self.name,
            "label": self.label,
            "answered_by": self.name,
            "local_model": self.local.name,
            "reason": f"{self.key_env} is not set",
            "watermark": self.watermark,
        }
        return Prediction(alpha=pred.alpha, info=info)
