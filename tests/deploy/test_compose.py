"""docker/compose.yaml: valid against the compose-spec schema, wired to the real files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.dockerfiles import DOCKER, ROOT

COMPOSE = DOCKER / "compose.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    # check-jsonschema (dev extra) vendors the compose-spec schema with its licence
    # (check_jsonschema/builtin_schemas/vendor/{compose-spec.json,licenses/}): no network needed.
    builtin = pytest.importorskip("check_jsonschema.builtin_schemas")
    return dict(builtin.get_builtin_schema("vendor.compose-spec"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(doc)]


def test_compose_file_matches_the_compose_spec(schema: dict[str, Any],
                                               compose: dict[str, Any]) -> None:
    assert errors(schema, compose) == []


def test_the_schema_check_catches_mistakes(schema: dict[str, Any],
                                           compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["ui"]["portz"] = ["8080:8080"]
    assert errors(schema, broken)


def _bind_sources(service: dict[str, Any]) -> list[Path]:
    out = []
    for volume in service.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith("."):
            out.append((DOCKER / source).resolve())
    return out


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"ui", "train", "prometheus", "pushgateway", "grafana"} <= set(services)
    assert services["train"]["profiles"] == ["train"]
    assert "profiles" not in services["ui"]
    for name in ("ui", "train"):
        dockerfile = (DOCKER / services[name]["build"]["context"]
                      / services[name]["build"]["dockerfile"]).resolve()
        assert dockerfile.is_file(), dockerfile


def test_monitoring_is_wired_to_the_repository_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mounted = {p.relative_to(ROOT).as_posix() for s in services.values() for p in _bind_sources(s)
               if p.is_relative_to(ROOT)}
    assert {"monitoring/prometheus.yml", "monitoring/alerts.yml",
            "monitoring/grafana/provisioning", "monitoring/grafana/dashboards"} <= mounted
    for rel in mounted:
        if not rel.startswith("data"):  # data/ is created by the user's first run
            assert (ROOT / rel).exists(), rel
    # The dashboards land where the Grafana provisioning provider looks for them.
    provider = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/dashboards/bgbye.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert any(v.endswith(f":{path}:ro") for v in services["grafana"]["volumes"])
    # The scrape targets in prometheus.yml are the compose service names.
    scrape = yaml.safe_load((ROOT / "monitoring/prometheus.yml").read_text())["scrape_configs"]
    targets = {t.split(":")[0] for job in scrape for sc in job["static_configs"]
               for t in sc["targets"]}
    assert {"ui", "pushgateway"} <= targets <= set(services) | {"localhost"}


def test_training_pushes_to_the_compose_pushgateway(compose: dict[str, Any]) -> None:
    env = compose["services"]["train"]["environment"]
    assert env["BGBYE_PUSHGATEWAY_URL"] == "http://pushgateway:9091"
    assert any(v.startswith("../data:") for v in compose["services"]["train"]["volumes"])


def test_the_ci_override_is_valid_and_leaves_the_published_images(
        schema: dict[str, Any], compose: dict[str, Any]) -> None:
    override = yaml.safe_load((DOCKER / "compose.ci.yaml").read_text())
    assert errors(schema, override) == []
    assert set(override["services"]) == {"ui", "prometheus", "pushgateway"} <= set(
        compose["services"])
    # Users keep the published images; only CI swaps in the locally built ones.
    assert compose["services"]["prometheus"]["image"].startswith("prom/prometheus:")
    assert compose["services"]["pushgateway"]["image"].startswith("prom/pushgateway:")
    for name, service in override["services"].items():
        assert service["image"].startswith("${BGBYE_CI_"), name
        assert service["network_mode"] == "host"
