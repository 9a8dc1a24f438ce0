"""The job store's contract on both dialects: leases, take-over, fencing, release, concurrent
claims, migrations; the blob store; BGBYE_DATABASE_URL checked at start-up; the database going
away and coming back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from bgbye.errors import InvalidImageError
from bgbye.server.app import create_app
from bgbye.server.jobs import ItemState, JobState, JobStore, NewItem, open_store
from bgbye.server.jobs.postgres import PostgresJobStore
from bgbye.server.jobs.sqlite import SqliteJobStore
from bgbye.server.jobs.urls import InvalidSettingError, check_database_url
from bgbye.server.storage import BlobStore
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.server.conftest import assert_error
from tests.server.postgres import PostgresCluster, postgres_cluster

ROOT = Path(__file__).resolve().parents[2]
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "postgres":
        s: JobStore = PostgresJobStore(request.getfixturevalue("pg_cluster").new_database())
    else:
        s = SqliteJobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


def _job(store: JobStore, job_id: str, n: int) -> None:
    items = [NewItem(f"{i}.png", b"x") for i in range(n)]
    store.create(job_id, "tiny", {"format": "png"}, items, [f"{i}.png" for i in range(n)])


def test_a_lease_that_runs_out_is_taken_over_and_the_old_holder_is_fenced(store: JobStore
                                                                         ) -> None:
    _job(store, "job-a", 2)
    first = store.claim("replica-a", 5, lease_seconds=0.5)
    assert [c.item.idx for c in first] == [0, 1] and first[0].expired_from is None
    assert store.get("job-a").state == JobState.RUNNING  # type: ignore[union-attr]
    assert store.claim("replica-b", 5, lease_seconds=30) == []  # leased: not claimable
    assert store.heartbeat("replica-a", 0.5) == 2
    time.sleep(0.7)  # replica-a stops heartbeating (killed)
    taken = store.claim("replica-b", 5, lease_seconds=30)
    assert [(c.item.idx, c.expired_from) for c in taken] == [(0, "replica-a"), (1, "replica-a")]
    assert store.finish("replica-a", "job-a", 0) is False  # too late: not recorded
    assert store.finish("replica-b", "job-a", 0) is True
    assert store.finish("replica-b", "job-a", 0) is False  # never twice
    assert store.get("job-a").state == JobState.RUNNING  # type: ignore[union-attr]
    assert store.finish("replica-b", "job-a", 1, InvalidImageError("bad")) is True
    job = store.get("job-a")
    assert job is not None and job.state == JobState.DONE and job.finished is not None
    rows = list(store.item_rows("job-a"))
    assert [(r["state"], r["attempts"], r["completions"], r["done_by"]) for r in rows] == [
        ("done", 2, 1, "replica-b"), ("failed", 2, 1, "replica-b")]


def test_release_hands_items_back_and_all_failed_is_failed(store: JobStore) -> None:
    _job(store, "job-b", 3)
    assert len(store.claim("replica-a", 2, 30)) == 2
    assert store.stats().leased_items == 2 and store.stats().queued_items == 1
    assert store.release("replica-a") == 2
    assert store.stats().queued_items == 3
    for claim in store.claim("replica-b", 10, 30):
        assert store.finish("replica-b", claim.job.id, claim.item.idx, InvalidImageError("no"))
    job = store.get("job-b")
    assert job is not None and job.state == JobState.FAILED
    assert job.reason == "every image failed; see errors"


def test_a_job_of_refused_inputs_only_ends_at_once(store: JobStore) -> None:
    store.create("job-c", "tiny", {}, [NewItem("a.txt", None, InvalidImageError("no"))],
                 ["a.png"])
    job = store.get("job-c")
    assert job is not None and job.state == JobState.FAILED
    assert store.claim("replica-a", 5, 30) == []


def test_concurrent_claims_never_share_an_item(store: JobStore) -> None:
    for j in range(4):
        _job(store, f"job-{j}", 15)
    got: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while claims := store.claim(name, 3, 30):
            for c in claims:
                assert store.finish(name, c.job.id, c.item.idx)
                with lock:
                    got.append((name, c.job.id, c.item.idx))

    threads = [threading.Thread(target=worker, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    keys = [(j, i) for _, j, i in got]
    assert len(keys) == 60 and len(set(keys)) == 60
    assert all(store.get(f"job-{j}").state == JobState.DONE for j in range(4))  # type: ignore[union-attr]


@pytest.mark.postgres
def test_replicas_starting_together_migrate_once(pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.new_database()
    stores: list[JobStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(PostgresJobStore(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(stores) == 6
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [1]
    for s in stores:
        s.close()


def test_an_old_sqlite_database_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, engine TEXT NOT NULL, "
        "options TEXT NOT NULL, reason TEXT, created REAL NOT NULL, updated REAL NOT NULL, "
        "finished REAL);"
        "CREATE TABLE items (job_id TEXT NOT NULL REFERENCES jobs(id), idx INTEGER NOT NULL, "
        "name TEXT NOT NULL, output TEXT NOT NULL, state TEXT NOT NULL, error_code TEXT, "
        "error_message TEXT, PRIMARY KEY (job_id, idx));"
        "INSERT INTO jobs VALUES ('old', 'queued', 'tiny', '{}', NULL, 1, 1, NULL);"
        "INSERT INTO items VALUES ('old', 0, 'a.png', 'a.png', 'pending', NULL, NULL);")
    db.commit()
    db.close()
    store = SqliteJobStore(path)
    [claim] = store.claim("r", 5, 30)
    assert (claim.job.id, claim.item.state) == ("old", ItemState.PENDING)
    store.close()
    store = SqliteJobStore(path)  # a second start applies nothing twice
    assert store.get("old") is not None
    store.close()


@pytest.mark.parametrize("url", ["file:///tmp/blobs", "memory://bgbye-test"])
def test_blob_store(tmp_path: Path, url: str) -> None:
    blobs = BlobStore(str(tmp_path / "blobs") if url.startswith("file") else url)
    blobs.put("jobs/x/in/000000", b"abc")
    blobs.put("jobs/x/out/a/b.png", b"png")
    assert blobs.exists("jobs/x/in/000000") and blobs.get("jobs/x/in/000000") == b"abc"
    with blobs.open("jobs/x/out/a/b.png") as fh:
        assert fh.read() == b"png"
    assert blobs.modified("jobs/x/out/a/b.png") > 0
    blobs.delete("jobs/x/in/000000")
    blobs.delete("jobs/x/in/000000")  # missing is fine
    assert not blobs.exists("jobs/x/in/000000")
    blobs.delete_tree("jobs/x")
    assert not blobs.exists("jobs/x/out/a/b.png")
    if blobs.local:
        assert not list((tmp_path / "blobs").rglob("*.part"))


@pytest.mark.parametrize(("url", "reason"), [
    ("mysql://u:secret@db/bgbye", "the scheme is 'mysql'"),
    ("localhost:5432/bgbye", "the scheme is 'localhost'"),
    ("postgresql://u:secret@db:fivefour/bgbye", "the port is not a number"),
    ("postgresql://u:secret@/bgbye", "it names no host"),
    ("postgresql://u:secret@db/bgbye?sslmode=maybe&color=red", 'invalid URI query parameter'),
    ("postgresql://u:secret@[::1/bgbye", "Invalid IPv6 URL"),
])
def test_a_malformed_database_url_is_one_sentence(url: str, reason: str) -> None:
    with pytest.raises(InvalidSettingError) as info:
        check_database_url(url)
    message = info.value.message
    assert message.startswith("BGBYE_DATABASE_URL is not a valid PostgreSQL URL (")
    assert reason in message and "secret" not in message
    assert message.count(". ") == 0 and message.endswith(").")


def test_serve_with_a_malformed_database_url_fails_at_start_up(tmp_path: Path,
                                                              tiny_model_dir: Path) -> None:
    from tests.reliability.procs import bgbye_env

    env = bgbye_env(tiny_model_dir, tmp_path / "storage",
                    BGBYE_DATABASE_URL="postgresql://u:pw@db:port/x")
    proc = subprocess.run([sys.executable, "-m", "bgbye", "serve", "--port", "1"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "error: BGBYE_DATABASE_URL is not a valid PostgreSQL URL (the port is not a number; "
        "expected postgresql://USER:PASSWORD@HOST:5432/DATABASE)."]


@pytest.mark.postgres
def test_database_down_is_503_with_retry_after_then_recovers(settings: Settings) -> None:
    with postgres_cluster() as cluster:  # its own cluster: this test stops it
        settings.database_url = cluster.new_database()
        settings.job_poll_seconds = 0.2
        files = [("images", ("a.png", image_bytes(), "image/png"))]
        with TestClient(create_app(settings)) as client:
            assert client.get("/readyz").status_code == 200
            cluster.stop()
            r = client.post("/v1/jobs", files=files)
            error = assert_error(r, 503, "database_unavailable")
            assert "database" in error["message"] and int(r.headers["retry-after"]) > 0
            ready = client.get("/readyz")
            assert_error(ready, 503, "not_ready")
            assert "database" in ready.json()["error"]["message"]
            assert client.get("/metrics").status_code == 200  # the rest is still exposed
            assert client.get("/healthz").status_code == 200  # alive: do not restart the pod
            cluster.start()
            deadline = time.monotonic() + 30
            while (r := client.post("/v1/jobs", files=files)).status_code != 202:
                assert r.status_code == 503 and time.monotonic() < deadline, r.text
                time.sleep(0.5)
            job_id = r.json()["id"]
            while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] != "done":
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            assert client.get("/readyz").status_code == 200


def test_open_store_follows_the_setting(settings: Settings) -> None:
    store = open_store(settings)
    assert isinstance(store, SqliteJobStore)
    store.close()


def test_a_refused_job_leaves_no_files(settings: Settings) -> None:
    from bgbye.server.jobs import JobQueue, StoreUnavailableError

    class DownStore(SqliteJobStore):
        def create(self, *args: object, **kwargs: object) -> None:
            raise StoreUnavailableError()

    queue = JobQueue(DownStore(settings.storage_dir / "jobs.sqlite3"),
                     BlobStore(settings.storage_dir))
    with pytest.raises(StoreUnavailableError):
        queue.create("tiny", {"format": "png"}, [NewItem("a.png", image_bytes())])
    assert not list((settings.storage_dir / "jobs").rglob("*"))
    queue.close()


def test_serve_with_an_unreachable_database_fails_at_start_up_in_one_line(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    from tests.reliability.procs import bgbye_env
    from tests.server.live import free_port

    env = bgbye_env(tiny_model_dir, tmp_path / "storage",
                    BGBYE_DATABASE_URL=f"postgresql://u:hunter2@127.0.0.1:{free_port()}/x",
                    BGBYE_DATABASE_STARTUP_TIMEOUT_SECONDS="1")
    proc = subprocess.run([sys.executable, "-m", "bgbye", "serve", "--port", "1"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: The job database could not be reached for 1 s (")
    assert "Traceback" not in proc.stderr and "hunter2" not in proc.stderr
