"""Two real ``bgbye serve`` processes sharing one PostgreSQL and one storage folder, as two
replicas behind a Service: a job is visible and downloadable from either; ``kill -9`` of a
replica holding leases loses nothing and does nothing twice; a restart of both mid-job loses
nothing; 20 concurrent jobs across both end with every item done once and no 5xx."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.reliability.procs import ServerProcess, bgbye_env
from tests.server.postgres import PostgresCluster

pytestmark = pytest.mark.postgres

LEASE = 2.0  # short leases so a killed replica's items come back quickly


class Cluster:
    """Replicas on one database URL and one storage folder."""

    def __init__(self, tmp: Path, model_dir: Path, url: str):
        self.tmp, self.model_dir, self.url = tmp, model_dir, url
        self.storage = tmp / "storage"
        self.stack = ExitStack()

    def replica(self, name: str) -> ServerProcess:
        env = bgbye_env(self.model_dir, self.storage, BGBYE_DATABASE_URL=self.url,
                        BGBYE_REPLICA=name, BGBYE_JOB_LEASE_SECONDS=str(LEASE),
                        BGBYE_JOB_POLL_SECONDS="0.2", BGBYE_SHUTDOWN_GRACE_SECONDS="5")
        server = ServerProcess(env, self.tmp / f"{name}.log")
        self.stack.callback(server.stop)
        server.wait_ready()
        return server

    def items(self, job_id: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute("SELECT idx, state, attempts, completions, done_by, lease_owner "
                                "FROM items WHERE job_id = %s ORDER BY idx", (job_id,))
            keys = ("idx", "state", "attempts", "completions", "done_by", "lease_owner")
            return [dict(zip(keys, r, strict=True)) for r in rows]


@pytest.fixture
def cluster(tmp_path: Path, model_dir: Path, pg_cluster: PostgresCluster) -> Iterator[Cluster]:
    c = Cluster(tmp_path, model_dir, pg_cluster.new_database())
    with c.stack:
        yield c


def _submit(url: str, n: int, prefix: str = "img", size: tuple[int, int] = (640, 480)) -> str:
    files = [("images", (f"{prefix}{i}.png", image_bytes("PNG", *size), "image/png"))
             for i in range(n)]
    r = httpx.post(f"{url}/v1/jobs", files=files, timeout=60)
    assert r.status_code == 202, r.text
    job_id: str = r.json()["id"]
    return job_id


def _job(url: str, job_id: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30)
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()
    return job


def _wait_done(url: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := _job(url, job_id))["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def _result(url: str, job_id: str) -> zipfile.ZipFile:
    r = httpx.get(f"{url}/v1/jobs/{job_id}/result", timeout=60)
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.testzip() is None
    for name in zf.namelist():
        Image.open(io.BytesIO(zf.read(name))).load()
    return zf


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _done_once(cluster: Cluster, job_id: str, n: int) -> list[dict[str, Any]]:
    rows = cluster.items(job_id)
    assert len(rows) == n
    assert all(r["state"] == "done" and r["completions"] == 1 and r["lease_owner"] is None
               for r in rows), rows
    out = cluster.storage / "jobs" / job_id / "out"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == n and not [p for p in files if p.name.startswith(".")]
    return rows


def test_submit_to_one_replica_poll_and_download_from_the_other(cluster: Cluster) -> None:
    a, b = cluster.replica("replica-a"), cluster.replica("replica-b")
    job_id = _submit(a.url, 6)
    assert _job(b.url, job_id)["counts"]["total"] == 6  # visible from B at once
    job = _wait_done(b.url, job_id)
    assert job["counts"] == {"total": 6, "pending": 0, "done": 6, "failed": 0}
    assert sorted(_result(b.url, job_id).namelist()) == [f"img{i}.png" for i in range(6)]
    assert sorted(_result(a.url, job_id).namelist()) == [f"img{i}.png" for i in range(6)]
    _done_once(cluster, job_id, 6)


def test_kill9_of_a_replica_holding_leases(cluster: Cluster) -> None:
    n = 24
    a, b = cluster.replica("replica-a"), cluster.replica("replica-b")
    job_id = _submit(a.url, n, size=(900, 700))
    deadline = time.monotonic() + 60
    while True:  # A must have finished some items and hold a lease when it dies
        rows = cluster.items(job_id)
        held = [r["idx"] for r in rows if r["lease_owner"] == "replica-a"]
        if held and sum(r["done_by"] == "replica-a" for r in rows) >= 2:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.005)
    a.kill9()
    killed_at = time.monotonic()
    done_at_kill = sum(r["state"] == "done" for r in cluster.items(job_id))
    while not all(r["state"] == "done" for r in cluster.items(job_id) if r["idx"] in held):
        assert time.monotonic() < killed_at + 60
        time.sleep(0.02)
    taken_over_after = time.monotonic() - killed_at
    job = _wait_done(b.url, job_id)
    finished_after = time.monotonic() - killed_at
    assert job["state"] == "done" and job["counts"]["done"] == n
    rows = _done_once(cluster, job_id, n)
    taken_over = [r for r in rows if r["idx"] in held]
    assert all(r["done_by"] == "replica-b" and r["attempts"] >= 2 for r in taken_over), rows
    assert len(_result(b.url, job_id).namelist()) == n
    expiries = _metric(b.url, "bgbye_job_lease_expiries_total")
    assert expiries >= len(held)
    _record({"items": n, "done_before_kill": done_at_kill, "leased_by_killed_replica": len(held),
             "lease_seconds": LEASE,
             "seconds_from_kill_to_leased_items_done": round(taken_over_after, 2),
             "seconds_from_kill_to_job_done": round(finished_after, 2),
             "lease_expiries_seen_by_b": expiries,
             "done_by": {r: sum(x["done_by"] == r for x in rows)
                         for r in ("replica-a", "replica-b")}})


def _record(numbers: dict[str, Any]) -> None:
    """The numbers docs/reliability.md quotes, as the last run measured them."""
    import os

    if path := os.environ.get("BGBYE_SCALEOUT_REPORT"):
        Path(path).write_text(json.dumps(numbers, indent=2))
    print("scale-out kill -9:", json.dumps(numbers))


def test_restart_of_both_replicas_mid_job_loses_nothing(cluster: Cluster) -> None:
    n = 16
    a, b = cluster.replica("replica-a"), cluster.replica("replica-b")
    job_id = _submit(a.url, n, size=(900, 700))
    deadline = time.monotonic() + 60
    while _job(b.url, job_id)["counts"]["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    a.stop()  # SIGTERM: finishes or hands back what it holds...
    assert not [r for r in cluster.items(job_id) if r["lease_owner"] == "replica-a"]
    b.kill9()  # ...and the other one dies hard
    assert _counts(cluster, job_id) < n, "stopped too late to prove anything"
    a2, b2 = cluster.replica("replica-a2"), cluster.replica("replica-b2")
    job = _wait_done(a2.url, job_id)
    assert job["counts"]["done"] == n
    _done_once(cluster, job_id, n)
    assert len(_result(b2.url, job_id).namelist()) == n


def _counts(cluster: Cluster, job_id: str) -> int:
    return sum(r["state"] == "done" for r in cluster.items(job_id))


def test_twenty_concurrent_jobs_across_both_replicas(cluster: Cluster) -> None:
    replicas = [cluster.replica("replica-a"), cluster.replica("replica-b")]
    statuses: list[int] = []

    def one(i: int) -> tuple[str, dict[str, Any]]:
        submit, poll = replicas[i % 2], replicas[(i + 1) % 2]
        files = [("images", (f"j{i}-{k}.png", image_bytes("PNG", 320, 240), "image/png"))
                 for k in range(3)]
        with httpx.Client(timeout=60) as client:
            r = client.post(f"{submit.url}/v1/jobs", files=files)
            statuses.append(r.status_code)
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            deadline = time.monotonic() + 180
            while True:
                s = client.get(f"{poll.url}/v1/jobs/{job_id}")
                statuses.append(s.status_code)
                if s.json()["state"] in ("done", "failed"):
                    break
                assert time.monotonic() < deadline
                time.sleep(0.2)
            z = client.get(f"{poll.url}/v1/jobs/{job_id}/result")
            statuses.append(z.status_code)
            return job_id, s.json()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    assert not [s for s in statuses if s >= 500]
    for job_id, job in results:
        assert job["state"] == "done" and job["counts"]["done"] == 3
        _done_once(cluster, job_id, 3)
    claims = {r.url: _metric(r.url, "bgbye_job_claims_total") for r in replicas}
    assert sum(claims.values()) >= 60 and all(claims.values()), claims  # both did work
