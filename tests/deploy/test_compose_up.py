"""docker/compose.yaml brought up for real under podman-compose, with the CI override.

UI, Prometheus and Pushgateway run from locally built images (docker/compose.ci.yaml); Prometheus
scrapes the UI with monitoring/prometheus.yml's jobs (targets moved to free loopback ports) and
the UI's request counter, as Prometheus stores it, moves when requests are made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import image_bytes
from tests.deploy import podman as pm
from tests.deploy.dockerfiles import DOCKER, ROOT
from tests.deploy.test_containers import assert_cut_out

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]

# PyPI's podman-compose (dev extra), not Debian's 1.0.3, which adds a bridge network to
# `network_mode: host` services and ignores the override's command/volume replacement rules.
COMPOSE = str(Path(sys.executable).with_name("podman-compose"))
SERVICES = ("ui", "prometheus", "pushgateway")
SCRAPE_INTERVAL = "2s"  # CI only: 15 s in monitoring/prometheus.yml


def ci_prometheus_config(ports: dict[str, int]) -> dict[str, Any]:
    """monitoring/prometheus.yml with each ``service:port`` target moved to its loopback port."""
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = SCRAPE_INTERVAL
    names = {"ui": "ui", "pushgateway": "pushgateway", "localhost": "prometheus"}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [f"127.0.0.1:{ports[names[t.split(':')[0]]]}"
                                 for t in static["targets"]]
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base = pm.base_image()
    pm.build("Dockerfile.ui", "localhost/bgbye-ui:ci", base)
    for service in ("prometheus", "pushgateway"):
        pm.build(f"ci/Dockerfile.{service}", f"localhost/bgbye-{service}:ci", base,
                 context=DOCKER / "ci")
    ports = {name: pm.free_port() for name in SERVICES}
    work = tmp_path_factory.mktemp("compose")
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump(ci_prometheus_config(ports)))
    config.chmod(0o644)
    (work / "06_models").mkdir()
    project = pm.unique("bgbye-ci")
    env = {**os.environ,
           "BGBYE_CI_UI_PORT": str(ports["ui"]),
           "BGBYE_CI_PROMETHEUS_PORT": str(ports["prometheus"]),
           "BGBYE_CI_PUSHGATEWAY_PORT": str(ports["pushgateway"]),
           "BGBYE_CI_PROMETHEUS_CONFIG": str(config),
           "BGBYE_CI_MODELS_DIR": str(work / "06_models")}
    compose = [COMPOSE, "--podman-args", " ".join(pm.GLOBAL_ARGS), "-p", project,
               "-f", str(DOCKER / "compose.yaml"), "-f", str(DOCKER / "compose.ci.yaml")]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*compose, *args], capture_output=True, text=True, env=env,
                              timeout=300, check=False)
        assert not check or proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    run("up", "-d", "--no-build", "--no-deps", *SERVICES)  # not postgres: see the override
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        names = {s: container_of(project, s) for s in SERVICES}
        pm.wait_for(f"{urls['ui']}/readyz", names["ui"])
        pm.wait_for(f"{urls['prometheus']}/-/ready", names["prometheus"])
        pm.wait_for(f"{urls['pushgateway']}/-/ready", names["pushgateway"])
        yield urls
    finally:
        run("down", "-v", "-t", "5", check=False)


def container_of(project: str, service: str) -> str:
    proc = pm.podman("ps", "-a", "--filter", f"label=io.podman.compose.project={project}",
                     "--filter", f"label=com.docker.compose.service={service}",
                     "--format", "{{.Names}}")
    (name,) = proc.stdout.split()
    return name


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def wait_value(prometheus: str, promql: str, done: Any, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while True:
        result = query(prometheus, promql)
        value = float(result[0]["value"][1]) if result else None
        if value is not None and done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql} = {value} after {timeout} s")
        time.sleep(1)


def test_prometheus_scrapes_every_target(stack: dict[str, str]) -> None:
    for job in ("bgbye-ui", "pushgateway", "prometheus"):
        wait_value(stack["prometheus"], f'up{{job="{job}"}}', lambda v: v == 1)


def test_the_request_counter_moves(stack: dict[str, str]) -> None:
    promql = 'sum(bgbye_http_requests_total{job="bgbye-ui",route="/v1/remove"})'
    # The counter exists once the route has been called; start from what Prometheus has.
    files = {"image": ("photo.png", image_bytes("PNG", 160, 120), "image/png")}
    first = httpx.post(f"{stack['ui']}/v1/remove", files=files, timeout=60)
    assert first.status_code == 200, first.text
    assert_cut_out(first.content)
    before = wait_value(stack["prometheus"], promql, lambda v: v >= 1)
    for _ in range(3):
        assert httpx.post(f"{stack['ui']}/v1/remove", files=files, timeout=60).status_code == 200
    after = wait_value(stack["prometheus"], promql, lambda v: v >= before + 3)
    assert after == before + 3
