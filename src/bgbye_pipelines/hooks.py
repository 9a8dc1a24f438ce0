"""Kedro hooks: push training progress to a Prometheus Pushgateway.

Active only when ``BGBYE_PUSHGATEWAY_URL`` is set. Every push goes through
``bgbye.monitoring.push_metrics`` (retries with backoff, logs, never raises), so a run never fails
because monitoring is down.

Pushed series, all in the Pushgateway group ``job="bgbye-training", run=<session id>,
pipeline=<pipeline names>``:

- per epoch (from the training loop's epoch events): ``train_loss``, ``val_loss``, ``val_<metric>``
  for each validation metric, ``learning_rate``, ``epoch``, ``train_images_per_second``,
  ``train_last_epoch_timestamp_seconds``;
- per run: ``bgbye_pipeline_run_running`` (1 while running), ``bgbye_pipeline_run_success`` (1/0
  once finished), ``bgbye_pipeline_run_start_timestamp_seconds``,
  ``bgbye_pipeline_run_end_timestamp_seconds``, ``bgbye_pipeline_run_duration_seconds``,
  ``bgbye_pipeline_progress_timestamp_seconds`` (updated after each node and each epoch: the
  "training stalled" alert watches it).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

from bgbye.monitoring import TRAINING_JOB, push_metrics
from bgbye.settings import Settings

log = logging.getLogger(__name__)

URL_ENV = "BGBYE_PUSHGATEWAY_URL"  # read through bgbye.settings.Settings.pushgateway_url

# Names the training loop may use for the same thing -> the pushed metric name.
_ALIASES = {
    "lr": "learning_rate",
    "learning_rate": "learning_rate",
    "epoch": "epoch",
    "train_loss": "train_loss",
    "loss": "train_loss",
    "val_loss": "val_loss",
    "images_per_second": "train_images_per_second",
    "images_per_sec": "train_images_per_second",
    "images_per_s": "train_images_per_second",
    "seconds": "train_epoch_seconds",
    "epoch_seconds": "train_epoch_seconds",
    "train_images_per_second": "train_images_per_second",
    "throughput": "train_images_per_second",
}
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_]+")


def epoch_metric_names(values: Mapping[str, Any]) -> dict[str, float]:
    """Map an epoch's values to pushed metric names; non-numeric and non-finite values are dropped.

    The training loop's events (``bgbye_pipelines.ml.events``) name validation metrics ``val_*``;
    a nested ``{"val": {...}}`` mapping gives ``val_<name>`` too. Any other unknown number is a
    training-side value and becomes ``train_<name>``.
    """
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            prefix = "val_" if key in ("val", "val_metrics", "validation") else f"{key}_"
            for sub, val in epoch_metric_names(
                {f"{prefix}{k}": v for k, v in value.items()}
            ).items():
                out.setdefault(sub, val)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(float(value)):
            continue
        name = _NOT_A_NAME.sub("_", str(key)).strip("_").lower()
        if not name:
            continue
        if name in _ALIASES:
            name = _ALIASES[name]
        elif not name.startswith(("val_", "train_")):
            name = f"train_{name}"
        out[name] = float(value)
    return out


class PushgatewayHooks:
    """Kedro hook pushing per-epoch training metrics and run status to the Pushgateway."""

    def __init__(self, url: str | None = None, *, attempts: int = 3, backoff_seconds: float = 0.5):
        self._url_override = url
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.url: str | None = None
        self.grouping: dict[str, str] = {}
        self._started = 0.0
        self._unsubscribe: Callable[[], None] | None = None

    # -- Kedro hook implementations --------------------------------------------------------------

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self.url = self._url_override or Settings().pushgateway_url or None
        if not self.url:
            return
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or None]
        pipeline = ",".join(n for n in names if n) or "__default__"
        self.grouping = {"run": str(run_params.get("run_id") or run_params.get("session_id")
                                    or time.strftime("%Y%m%dT%H%M%S")),
                         "pipeline": pipeline}
        self._started = time.time()
        self._push({
            "bgbye_pipeline_run_running": 1,
            "bgbye_pipeline_run_start_timestamp_seconds": self._started,
            "bgbye_pipeline_progress_timestamp_seconds": self._started,
        })
        self._subscribe()

    @hook_impl
    def after_node_run(self) -> None:
        if self.url:
            self._push({"bgbye_pipeline_progress_timestamp_seconds": time.time()})

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish(success=True)

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        log.info("pipeline failed (%s): pushing the final status", type(error).__name__)
        self._finish(success=False)

    # -- epoch events ----------------------------------------------------------------------------

    def on_epoch_end(self, *args: Any, **values: Any) -> None:
        """Called by the training loop after each epoch.

        Accepts ``on_epoch_end(epoch, {...})``, ``on_epoch_end({...})``, ``on_epoch_end(event)``
        (an object with ``epoch`` and a metrics mapping, or a dataclass) or keyword values.
        """
        if not self.url:
            return
        merged: dict[str, Any] = {}
        for arg in args:
            if isinstance(arg, int | float) and not isinstance(arg, bool):
                merged["epoch"] = arg
            elif isinstance(arg, Mapping):
                merged.update(arg)
            elif hasattr(arg, "__dict__"):
                merged.update({k: v for k, v in vars(arg).items() if not k.startswith("_")})
        merged.update(values)
        metrics = epoch_metric_names(merged)
        now = time.time()
        metrics["train_last_epoch_timestamp_seconds"] = now
        metrics["bgbye_pipeline_progress_timestamp_seconds"] = now
        self._push(metrics)

    # -- internals -------------------------------------------------------------------------------

    def _subscribe(self) -> None:
        """Listen to the training loop's epoch events, if the training package offers them."""
        try:
            from bgbye_pipelines.ml import events
        except ImportError:
            log.debug("bgbye_pipelines.ml.events not available: no per-epoch pushes")
            return
        events.subscribe(self.on_epoch_end)
        self._unsubscribe = lambda: events.unsubscribe(self.on_epoch_end)

    def _finish(self, *, success: bool) -> None:
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except Exception as exc:  # never let cleanup fail the run
                log.debug("unsubscribe failed: %s", exc)
            self._unsubscribe = None
        if not self.url:
            return
        now = time.time()
        self._push({
            "bgbye_pipeline_run_running": 0,
            "bgbye_pipeline_run_success": 1 if success else 0,
            "bgbye_pipeline_run_end_timestamp_seconds": now,
            "bgbye_pipeline_run_duration_seconds": now - self._started,
            "bgbye_pipeline_progress_timestamp_seconds": now,
        })

    def _push(self, metrics: Mapping[str, float]) -> bool:
        return push_metrics(self.url, TRAINING_JOB, self.grouping, metrics,
                            attempts=self.attempts, backoff_seconds=self.backoff_seconds)
