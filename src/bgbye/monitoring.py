"""Prometheus metrics (names ``bgbye_<thing>_<unit|total>``) and Pushgateway pushes.

:class:`Metrics` holds every serving metric in its own registry: the server creates one per
app and exposes it on ``/metrics``; engines record provider calls into the one they are given.
Nothing is registered at import, so the library (a plain ``Remover``) touches no global state
and two apps in one process count separately.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    pushadd_to_gateway,
)

from bgbye import __version__

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The server's metrics, in ``self.registry`` (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # The process's own memory, CPU and GC (what the default registry would have shown).
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.build_info = Info("bgbye_build", "bgbye version and runtime", registry=r)
        self.build_info.info({"version": __version__})
        self.requests = Counter(
            "bgbye_http_requests_total", "HTTP requests by route template, method and status",
            ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram(
            "bgbye_http_request_duration_seconds", "HTTP request latency by route template",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.inference_seconds = Histogram(
            "bgbye_inference_duration_seconds",
            "Engine time per image, by engine (model or provider)", ["engine"],
            buckets=LATENCY_BUCKETS, registry=r)
        self.images = Counter("bgbye_images_processed_total",
                              "Images processed, by engine and outcome", ["engine", "outcome"],
                              registry=r)
        self.bytes_in = Counter("bgbye_input_bytes_total", "Bytes of images received", registry=r)
        self.bytes_out = Counter("bgbye_output_bytes_total", "Bytes of results produced",
                                 registry=r)
        self.queue_depth = Gauge("bgbye_queue_depth", "Inference requests waiting or running",
                                 registry=r)
        self.queue_rejections = Counter("bgbye_queue_rejections_total",
                                        "Requests refused with 503 (queue full)", registry=r)
        self.jobs = Gauge("bgbye_jobs", "Batch jobs by state", ["state"], registry=r)
        self.job_queue_items = Gauge(
            "bgbye_job_queue_items", "Job items waiting for a replica (the shared queue's depth)",
            registry=r)
        self.job_leased_items = Gauge("bgbye_job_leased_items",
                                      "Job items leased to a replica right now", registry=r)
        self.job_claims = Counter("bgbye_job_claims_total",
                                  "Job items claimed, by the replica that claimed", ["replica"],
                                  registry=r)
        self.job_lease_expiries = Counter(
            "bgbye_job_lease_expiries_total",
            "Job items taken over after their replica's lease ran out", registry=r)
        self.provider_calls = Counter(
            "bgbye_provider_calls_total", "Online provider calls by provider and outcome",
            ["provider", "outcome"], registry=r)
        self.provider_credits = Counter(
            "bgbye_provider_credits_charged_total", "Credits charged by providers", ["provider"],
            registry=r)
        self.provider_ratelimit_remaining = Gauge(
            "bgbye_provider_ratelimit_remaining", "Last reported remaining rate limit",
            ["provider"], registry=r)
        self.errors = Counter("bgbye_errors_total", "Errors by code", ["code"], registry=r)
        self.model_load_seconds = Gauge("bgbye_model_load_seconds",
                                        "Seconds to load each model", ["model"], registry=r)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """One sample's value (0 when absent): for tests and health checks."""
        return self.registry.get_sample_value(name, dict(labels or {})) or 0.0


# --- Pushgateway ---------------------------------------------------------------------------------
# Batch runs and training runs end before any scrape could see them, so they push instead. A push
# is best effort by contract: it is retried with backoff, logged when it finally fails, and never
# raises, because a training run or a batch must not fail because monitoring is down.

BATCH_JOB = "bgbye-batch"
TRAINING_JOB = "bgbye-training"


# The classic name syntax: Prometheus 2.x and Pushgateway 1.x refuse anything else, even though
# recent prometheus_client accepts UTF-8 names.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _gauge_registry(
    metrics: Mapping[str, float], descriptions: Mapping[str, str]
) -> CollectorRegistry:
    registry = CollectorRegistry()
    for name, value in metrics.items():
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        gauge = Gauge(name, descriptions.get(name, name.replace("_", " ")), registry=registry)
        gauge.set(float(value))
    return registry


def push_metrics(
    url: str | None,
    job: str,
    grouping: Mapping[str, str] | None,
    metrics: Mapping[str, float],
    *,
    descriptions: Mapping[str, str] | None = None,
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 5.0,
) -> bool:
    """Push ``metrics`` as gauges to the Pushgateway group ``job`` + ``grouping``.

    Metrics of the same names in that group are replaced; other metrics in the group stay
    (Pushgateway POST semantics). Returns True when a push landed, False otherwise (no URL,
    invalid metric names or every attempt failed); never raises.
    """
    if not url:
        return False
    if not metrics:
        return True
    try:
        registry = _gauge_registry(metrics, descriptions or {})
    except (ValueError, TypeError) as exc:
        log.warning("not pushing metrics to %s: %s", url, exc)
        return False
    group = {k: str(v) for k, v in (grouping or {}).items()}
    if bad := [k for k in group if not _LABEL_NAME.fullmatch(k)]:
        log.warning("not pushing metrics to %s: invalid grouping label names %s", url, bad)
        return False
    delay = backoff_seconds
    for attempt in range(1, max(1, attempts) + 1):
        try:
            pushadd_to_gateway(url, job=job, registry=registry, grouping_key=group,
                               timeout=timeout_seconds)
            return True
        except Exception as exc:  # any network/HTTP failure: monitoring must never break the run
            if attempt >= attempts:
                log.warning("Pushgateway push to %s failed after %d attempts: %s",
                            url, attempt, exc)
                return False
            log.info("Pushgateway push to %s failed (attempt %d/%d), retrying in %.1fs: %s",
                     url, attempt, attempts, delay, exc)
            time.sleep(delay)
            delay *= 2
    return False


def push_batch_summary(
    url: str | None, summary: Any, *, instance: str | None = None, **kwargs: Any
) -> bool:
    """Push a ``bgbye remove`` summary under job ``bgbye-batch``; never raises.

    ``summary`` is a ``bgbye.batch.summary.Summary`` (anything with ``as_metrics()``) or a
    mapping of metric name to value. Grouped by host so that batches on several machines do not
    overwrite each other; ``bgbye_batch_last_finish_timestamp_seconds`` says when it ended.
    """
    try:
        values = summary.as_metrics() if hasattr(summary, "as_metrics") else dict(summary)
        metrics = {str(k): float(v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        log.warning("not pushing the batch summary: %s", exc)
        return False
    metrics["bgbye_batch_last_finish_timestamp_seconds"] = time.time()
    grouping = {"instance": instance or socket.gethostname()}
    return push_metrics(url, BATCH_JOB, grouping, metrics, **kwargs)
