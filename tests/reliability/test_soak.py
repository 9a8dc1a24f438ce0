"""A bounded soak of a real ``bgbye serve`` (4 clients, mixed calls, loopback): no answer
outside the documented ones (503 only with Retry-After), memory flat after warm-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.soak import soak

from tests.reliability.procs import bgbye_env, running_server

pytestmark = pytest.mark.slow

CLIENTS = 4
PER_CLIENT = 400


def test_soak_no_errors_and_flat_memory(tmp_path: Path, model_dir: Path) -> None:
    # One inference thread and a queue of 2: four clients must meet backpressure sometimes.
    env = bgbye_env(model_dir, tmp_path / "storage", BGBYE_QUEUE_SIZE="2")
    with running_server(env, tmp_path / "server.log") as server:
        report = soak(server.url, server.proc.pid, clients=CLIENTS,
                      requests_per_client=PER_CLIENT)
        print(json.dumps(report.as_dict()))
        print(report.table())
        log = server.log()
    assert report.errors == []
    assert report.backpressure_without_retry_after == 0
    assert report.requests >= CLIENTS * PER_CLIENT
    ok = sum(n for k, n in report.statuses.items() if k.endswith((" 200", " 202")))
    assert ok >= report.requests * 0.5  # backpressure is the exception, not the rule
    # Flat memory: a generous bound on growth after warm-up (a leak of the 300 kB images or
    # their results per request would add well over 100 MB across 1,600 requests).
    assert report.end_rss_kb - report.warm_rss_kb < 100 * 1024, report.as_dict()
    assert "Traceback" not in log
