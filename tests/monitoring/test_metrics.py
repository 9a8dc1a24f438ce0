"""Metrics belong to their owner: two servers in one process count apart; nothing is global."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from bgbye.monitoring import Metrics


def test_each_owner_counts_apart_and_the_default_registry_stays_clean() -> None:
    a, b = Metrics(), Metrics()
    a.images.labels(engine="tiny", outcome="ok").inc()
    assert a.value("bgbye_images_processed_total", {"engine": "tiny", "outcome": "ok"}) == 1
    assert b.value("bgbye_images_processed_total", {"engine": "tiny", "outcome": "ok"}) == 0
    text = generate_latest(a.registry).decode()
    assert "bgbye_build_info" in text and "process_resident_memory_bytes" in text
    assert not [m.name for m in REGISTRY.collect() if m.name.startswith("bgbye")]
