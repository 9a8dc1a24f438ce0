"""Write k8s/monitoring/prometheusrule.yaml from monitoring/alerts.yml (one source of rules).

    python monitoring/sync_k8s_rules.py
tests/deploy checks that the two agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "monitoring" / "alerts.yml"
TARGET = ROOT / "k8s" / "monitoring" / "prometheusrule.yaml"
HEADER = (
    "# Generated from monitoring/alerts.yml by monitoring/sync_k8s_rules.py (tests/deploy checks\n"
    "# that they match): edit alerts.yml, then run the script.\n"
)


def prometheus_rule(groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "bgbye", "namespace": "bgbye",
                     "labels": {"app.kubernetes.io/part-of": "bgbye",
                                "release": "kube-prometheus-stack"}},
        "spec": {"groups": groups},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so the output stays readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value,
                                   style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def render() -> str:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return HEADER + yaml.dump(prometheus_rule(groups), Dumper=_Dumper, sort_keys=False, width=100)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
