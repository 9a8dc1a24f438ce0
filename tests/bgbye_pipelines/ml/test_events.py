"""Epoch events: the contract the monitoring hook relies on (no torch needed)."""

from __future__ import annotations

from typing import Any

from bgbye_pipelines.ml import events


def test_subscribers_and_extra_callbacks_receive_each_epoch() -> None:
    seen: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    events.subscribe(seen.append)
    events.subscribe(seen.append)  # subscribing twice delivers once
    try:
        events.emit({"epoch": 1, "train_loss": 0.5}, extra=[extra.append])
    finally:
        events.unsubscribe(seen.append)
    events.emit({"epoch": 2, "train_loss": 0.4})
    assert seen == [{"epoch": 1, "train_loss": 0.5}]
    assert extra == [{"epoch": 1, "train_loss": 0.5}]


def test_a_failing_subscriber_never_stops_the_others() -> None:
    got: list[dict[str, Any]] = []

    def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("pushgateway down")

    events.subscribe(broken)
    events.subscribe(got.append)
    try:
        events.emit({"epoch": 3})
    finally:
        events.unsubscribe(broken)
        events.unsubscribe(got.append)
    assert got == [{"epoch": 3}]


def test_subscribers_get_a_copy() -> None:
    def mutate(metrics: dict[str, Any]) -> None:
        metrics["epoch"] = -1

    original = {"epoch": 4}
    events.subscribe(mutate)
    try:
        events.emit(original)
    finally:
        events.unsubscribe(mutate)
    assert original == {"epoch": 4}
