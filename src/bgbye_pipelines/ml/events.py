"""Per-epoch training events, for monitoring without coupling the fit loop to it.

The fit loop calls :func:`emit` once per finished epoch with a flat dict of numbers::

    {"epoch": 3, "train_loss": 0.21, "val_loss": 0.25, "val_mae": 0.07, "val_iou": 0.81,
     "lr": 2.4e-4, "images_per_s": 11.3, "seconds": 64.0, "model": "bgbye-lite0"}

A Kedro hook (or anything else) subscribes once, e.g. in ``after_context_created``::

    from bgbye_pipelines.ml import events
    events.subscribe(lambda metrics: push_to_gateway(metrics))

Subscribers run synchronously in the training process; an exception in one is logged and
swallowed, so monitoring can never fail a run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

EpochMetrics = dict[str, Any]
Subscriber = Callable[[EpochMetrics], None]

_subscribers: list[Subscriber] = []
_lock = threading.Lock()


def subscribe(fn: Subscriber) -> Subscriber:
    """Register ``fn(metrics)`` for every epoch end; returns ``fn`` (usable as a decorator)."""
    with _lock:
        if fn not in _subscribers:
            _subscribers.append(fn)
    return fn


def unsubscribe(fn: Subscriber) -> None:
    with _lock:
        if fn in _subscribers:
            _subscribers.remove(fn)


def emit(metrics: EpochMetrics, extra: list[Subscriber] | None = None) -> None:
    """Deliver one epoch's metrics to the global subscribers and to ``extra`` callbacks."""
    with _lock:
        targets = [*_subscribers, *(extra or [])]
    for fn in targets:
        try:
            fn(dict(metrics))
        except Exception:  # monitoring must never stop training
            log.warning("epoch-end subscriber %r failed", fn, exc_info=True)
