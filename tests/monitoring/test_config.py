"""The monitoring/ files: promtool accepts them, the PromQL parses, dashboards are well formed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring.promql import (
    DASHBOARDS,
    MONITORING,
    RULES,
    all_expressions,
    grafana_to_promql,
    selectors,
)
from tests.monitoring.services import PROMTOOL

needs_promtool = pytest.mark.skipif(not os.access(PROMTOOL, os.X_OK),
                                    reason="promtool not installed (Debian package prometheus)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


@needs_promtool
def test_promtool_accepts_config() -> None:
    proc = promtool("check", "config", str(MONITORING / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_accepts_rules() -> None:
    proc = promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    # The check above is only meaningful if promtool really parses the expressions.
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(
        {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m]"}]}]}))
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_pushgateway_job_honors_labels() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["bgbye-ui"]["metrics_path"] == "/metrics"
    assert config["rule_files"] == ["alerts.yml"]


def test_required_alerts_exist() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert {"BgbyeServerDown", "BgbyeHighErrorRatio", "BgbyeQueueSaturated",
            "BgbyeTrainingStalled"} <= alerts


@pytest.mark.parametrize(("where", "expr"), all_expressions(), ids=lambda v: str(v)[:60])
def test_every_expression_parses(where: str, expr: str) -> None:
    assert selectors(expr, where), f"{where}: no metric selected by {expr!r}"


def test_grafana_variables_become_promql() -> None:
    expr = 'rate(x{run=~"$run", job=~"${job}"}[$__rate_interval])'
    assert grafana_to_promql(expr) == 'rate(x{run=~".*", job=~".*"}[5m])'


def test_dashboards_are_provisionable() -> None:
    datasources = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {ds["uid"] for ds in datasources["datasources"]}
    assert {p.stem for p in DASHBOARDS} == {"serving", "training"}
    seen_uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] not in seen_uids
        seen_uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in uids, f"{path.name}:{panel['title']}"
            assert panel["targets"], f"{path.name}:{panel['title']} has no query"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs))


def test_training_dashboard_shows_both_losses() -> None:
    board = json.loads((MONITORING / "grafana/dashboards/training.json").read_text())
    exprs = [grafana_to_promql(t["expr"]) for p in board["panels"] for t in p["targets"]]
    names = {sel.name for expr in exprs for sel in selectors(expr, "training.json")}
    assert {"train_loss", "val_loss"} <= names
