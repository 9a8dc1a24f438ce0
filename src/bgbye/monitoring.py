"""Prometheus metrics (names ``bgbye_<thing>_<unit|total>``) and Pushgateway pushes.

Metric objects live in the default registry so ``/metrics`` exposes them without wiring.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from bgbye import __version__

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

BUILD_INFO = Info("bgbye_build", "bgbye version and runtime")
BUILD_INFO.info({"version": __version__})

REQUESTS = Counter(
    "bgbye_http_requests_total", "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "bgbye_http_request_duration_seconds", "HTTP request latency by route template",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)
INFERENCE_SECONDS = Histogram(
    "bgbye_inference_duration_seconds", "Engine time per image, by engine (model or provider)",
    ["engine"], buckets=LATENCY_BUCKETS,
)
IMAGES = Counter("bgbye_images_processed_total", "Images processed, by engine and outcome",
                 ["engine", "outcome"])
BYTES_IN = Counter("bgbye_input_bytes_total", "Bytes of images received")
BYTES_OUT = Counter("bgbye_output_bytes_total", "Bytes of results produced")
QUEUE_DEPTH = Gauge("bgbye_queue_depth", "Inference requests waiting or running")
QUEUE_REJECTIONS = Counter("bgbye_queue_rejections_total", "Requests refused with 503 (queue full)")
JOBS = Gauge("bgbye_jobs", "Batch jobs by state", ["state"])
PROVIDER_CALLS = Counter("bgbye_provider_calls_total", "Online provider calls by provider and outcome",
                         ["provider", "outcome"])
PROVIDER_CREDITS = Counter("bgbye_provider_credits_charged_total", "Credits charged by providers",
                           ["provider"])
PROVIDER_RATELIMIT_REMAINING = Gauge("bgbye_provider_ratelimit_remaining",
                                     "Last reported remaining rate limit", ["provider"])
ERRORS = Counter("bgbye_errors_total", "Errors by code", ["code"])
MODEL_LOAD_SECONDS = Gauge("bgbye_model_load_seconds", "Seconds to load each model", ["model"])
