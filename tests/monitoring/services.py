"""Start the real Prometheus and Pushgateway on free loopback ports, with temporary storage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.monitoring.promql import MONITORING, RULES

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.25,
               what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} "
                       f"(last error: {last_error})")


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextmanager
def _run(cmd: list[str], url: str, log: Path) -> Iterator[Service]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    service = Service(url, proc, log)
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}:\n{service.log_tail()}")
            return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
        wait_until(ready, timeout=60, what=f"{cmd[0]} to be ready")
        yield service
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def pushgateway(tmp: Path) -> Iterator[Service]:
    port = free_port()
    # Debian's build persists to /var/lib/prometheus by default: keep each test's state its own.
    with _run([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
               f"--persistence.file={tmp / 'pushgateway.data'}"],
              f"http://127.0.0.1:{port}", tmp / "pushgateway.log") as svc:
        yield svc


def scrape_config(tmp: Path, targets: dict[str, str], prometheus_port: int) -> Path:
    """The repository's prometheus.yml with loopback targets, a 1 s interval and absolute paths.

    Only addresses and intervals change: job names, honor_labels and the rule file are the real
    ones, so the test exercises the configuration users deploy.
    """
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(RULES)]
    targets = {**targets, "prometheus": f"127.0.0.1:{prometheus_port}"}
    kept = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
            kept.append(job)
    config["scrape_configs"] = kept
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def prometheus(tmp: Path, targets: dict[str, str]) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (job name -> host:port of the repository's jobs)."""
    port = free_port()
    config = scrape_config(tmp, targets, port)
    cmd = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
           f"--web.listen-address=127.0.0.1:{port}"]
    with _run(cmd, f"http://127.0.0.1:{port}", tmp / "prometheus.log") as svc:
        yield Prometheus(svc.url, svc.process, svc.log)


class Prometheus(Service):
    def query(self, promql: str) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        resp.raise_for_status()
        body = resp.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, promql: str) -> float | None:
        """The single value of a scalar-like query, None when it returns nothing."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        return list(wait_until(lambda: self.query(promql), timeout=timeout, what=promql))

    def targets_up(self, job: str) -> bool:
        return self.value(f'up{{job="{job}"}}') == 1.0
