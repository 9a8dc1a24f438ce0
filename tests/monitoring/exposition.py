"""Metric names as they appear in a Prometheus text exposition (what PromQL can select)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# Prometheus adds these for every scrape target; they are not exported by anyone.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}


def series_names(text: str) -> set[str]:
    """Every series name an exposition can produce, including families without samples yet.

    A labelled counter that was never incremented has only HELP/TYPE lines, but the dashboards
    may still rightly refer to it, so names come from the families, expanded by type.
    """
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names
