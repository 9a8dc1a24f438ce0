"""Find the metrics that the PromQL in monitoring/ (alert rules, Grafana dashboards) refers to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULES = MONITORING / "alerts.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))

# Grafana's built-in range variables; any other $var only appears inside label values.
_GRAFANA_RANGES = re.compile(r"\$\{?__(rate_interval|interval|range)\}?")
_GRAFANA_VAR = re.compile(r"\$\{?\w+\}?")


@dataclass(frozen=True)
class Selector:
    """One vector selector: an exact metric name, or ``__name__`` matchers (name is None)."""

    where: str
    name: str | None
    name_matchers: tuple[tuple[str, str], ...]  # (op, value), op one of = != =~ !~

    def matches(self, metric: str) -> bool:
        if self.name is not None and metric != self.name:
            return False
        for op, value in self.name_matchers:
            hit = (metric == value) if op in ("=", "!=") else bool(re.fullmatch(value, metric))
            if hit != (op in ("=", "=~")):
                return False
        return True


def grafana_to_promql(expr: str, rate_interval: str = "5m",
                      variables: dict[str, str] | None = None) -> str:
    """Make a Grafana target plain PromQL: ranges become ``rate_interval``, template variables
    their value in ``variables`` or ``.*``."""
    values = variables or {}
    expr = _GRAFANA_RANGES.sub(rate_interval, expr)
    return _GRAFANA_VAR.sub(lambda m: values.get(m.group(0).strip("${}"), ".*"), expr)


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def selectors(expr: str, where: str) -> list[Selector]:
    """Every vector selector in ``expr`` (raises ValueError when it does not parse)."""
    found: list[Selector] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name_matchers = tuple(
                (_OPS[str(m.op)], m.value) for m in node.matchers.matchers if m.name == "__name__"
            )
            found.append(Selector(where, node.name, name_matchers))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def rule_expressions(path: Path = RULES) -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"{path.name}:{rule.get('alert') or rule.get('record')}", rule["expr"]


def dashboard_expressions(path: Path) -> Iterator[tuple[str, str]]:
    board = json.loads(path.read_text())
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            where = f"{path.name}:{panel['title']}:{target['refId']}"
            yield where, grafana_to_promql(target["expr"])
    for var in board.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        m = re.fullmatch(r"label_values\((.+),\s*\w+\)", query or "")
        if m:  # label_values(<selector>, label): the selector is PromQL
            yield f"{path.name}:${var['name']}", grafana_to_promql(m.group(1))


def all_expressions() -> list[tuple[str, str]]:
    exprs = list(rule_expressions())
    for board in DASHBOARDS:
        exprs.extend(dashboard_expressions(board))
    return exprs


def unknown_metrics(exported: set[str]) -> list[str]:
    """Selectors that match none of ``exported``, as readable strings (empty list: all fine)."""
    bad = []
    for where, expr in all_expressions():
        for sel in selectors(expr, where):
            if not any(sel.matches(name) for name in exported):
                bad.append(f"{where}: {sel.name or sel.name_matchers}")
    return bad
