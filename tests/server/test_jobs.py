"""Batch jobs: lifecycle, zip input and output, per-item errors, limits, restart; every test
against both job stores (SQLite, and a real PostgreSQL under the ``postgres`` marker)."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bgbye.errors import InvalidImageError
from bgbye.server.app import create_app
from bgbye.server.jobs import (
    JobQueue,
    JobState,
    NewItem,
    input_key,
    job_prefix,
    open_queue,
    open_store,
    output_key,
)
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.server.conftest import FakeEngine, assert_error, backend_of, inject, open_png

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True, params=STORES)
def store_kind(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Runs every test of this module on both stores: PostgreSQL gets a fresh database."""
    if request.param == "postgres":
        settings.database_url = request.getfixturevalue("pg_cluster").new_database()
    return str(request.param)


def wait_finished(client: TestClient, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def result_zip(client: TestClient, job_id: str) -> zipfile.ZipFile:
    r = client.get(f"/v1/jobs/{job_id}/result")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_job_lifecycle_with_many_files_and_a_bad_one(client: TestClient) -> None:
    files = [("images", (f"img{i}.png", image_bytes("PNG", 40 + i, 30), "image/png"))
             for i in range(3)]
    files.append(("images", ("notes.txt", b"not an image", "text/plain")))
    r = client.post("/v1/jobs", files=files, data={"format": "webp"})
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["status_url"] == f"/v1/jobs/{created['id']}"
    assert created["counts"]["total"] == 4
    job = wait_finished(client, created["id"])
    assert job["state"] == "done"
    assert job["counts"] == {"total": 4, "pending": 0, "done": 3, "failed": 1}
    assert job["errors"] == [{"index": 3, "name": "notes.txt", "error": {
        "code": "invalid_image",
        "message": "Not a supported image: expected JPEG, PNG, WebP, BMP, TIFF or GIF."}}]
    zf = result_zip(client, created["id"])
    assert sorted(zf.namelist()) == ["errors.json", "img0.webp", "img1.webp", "img2.webp"]
    assert json.loads(zf.read("errors.json"))[0]["name"] == "notes.txt"
    assert zf.testzip() is None


def test_zip_in_zip_out_keeps_folders_and_skips_junk(client: TestClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("cats/a.png", image_bytes("PNG"))
        zf.writestr("dogs/a.jpg", image_bytes("JPEG"))
        zf.writestr("__MACOSX/cats/._a.png", b"junk")
        zf.writestr(".DS_Store", b"junk")
        zf.writestr("../../evil.png", image_bytes("PNG"))
    r = client.post("/v1/jobs", files={"images": ("batch.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 202, r.text
    job = wait_finished(client, r.json()["id"])
    assert job["counts"]["done"] == 3 and job["counts"]["failed"] == 0
    names = sorted(result_zip(client, job["id"]).namelist())
    assert names == ["cats/a.png", "dogs/a.png", "evil.png"]  # no path climbs out
    out = result_zip(client, job["id"])
    assert open_png(out.read("cats/a.png")).mode == "RGBA"


def test_job_errors(settings: Settings) -> None:
    settings.max_batch_files = 2
    with TestClient(create_app(settings)) as client:
        assert_error(client.post("/v1/jobs", data={"format": "png"}), 400, "missing_field")
        three = [("images", (f"{i}.png", image_bytes(), "image/png")) for i in range(3)]
        assert_error(client.post("/v1/jobs", files=three), 413, "too_many_files")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for i in range(3):
                zf.writestr(f"{i}.png", image_bytes())
        assert_error(client.post("/v1/jobs", files={"images": ("b.zip", buf.getvalue())}), 413,
                     "too_many_files")
        assert_error(client.post("/v1/jobs", files={"images": ("b.zip", b"PK\x03\x04broken")}),
                     415, "invalid_image")
        one = [("images", ("a.png", image_bytes(), "image/png"))]
        assert_error(client.post("/v1/jobs", files=one, data={"format": "tga"}), 422)
        assert_error(client.post("/v1/jobs", files=one, data={"model": "nope"}), 404,
                     "unknown_model")
        assert_error(client.get("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA"), 404, "unknown_job")
        assert_error(client.get("/v1/jobs/../../etc"), 404)
        assert_error(client.get("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA/result"), 404, "unknown_job")


def test_result_before_the_end_is_409(client: TestClient) -> None:
    gate = threading.Event()
    inject(client, "slow", FakeEngine("slow", gate=gate))
    r = client.post("/v1/jobs", data={"model": "slow"},
                    files=[("images", ("a.png", image_bytes(), "image/png"))])
    job_id = r.json()["id"]
    try:
        assert_error(client.get(f"/v1/jobs/{job_id}/result"), 409, "not_ready")
        assert client.get(f"/v1/jobs/{job_id}").json()["state"] in ("queued", "running")
    finally:
        gate.set()
    assert wait_finished(client, job_id)["state"] == "done"


def test_a_job_whose_every_item_fails_is_failed(client: TestClient) -> None:
    inject(client, "broken", FakeEngine("broken", fail=InvalidImageError("cannot")))
    r = client.post("/v1/jobs", data={"model": "broken"},
                    files=[("images", ("a.png", image_bytes(), "image/png"))])
    job = wait_finished(client, r.json()["id"])
    assert job["state"] == "failed" and "every image failed" in job["reason"]
    assert job["errors"][0]["error"] == {"code": "invalid_image", "message": "cannot"}


def _crashed_job(settings: Settings, engine: str = "tiny") -> tuple[str, JobQueue]:
    """A job as a killed server leaves it: accepted (inputs stored), state running."""
    queue = open_queue(settings)
    items = [NewItem(f"{i}.png", image_bytes("PNG", 32, 24)) for i in range(3)]
    job = queue.create(engine, {"format": "png", "mask_only": False, "bg_color": None,
                                "crop": False, "margin": 0, "refine": False,
                                "bg_image": False}, items)
    queue.store.set_state(job.id, JobState.RUNNING)
    return job.id, queue


def test_restart_resumes_unfinished_jobs(settings: Settings) -> None:
    job_id, queue = _crashed_job(settings)
    # Item 0 was finished just before the crash; item 1's input was lost.
    queue.blobs.put(output_key(job_id, "0.png"), image_bytes())
    queue.blobs.delete(input_key(job_id, 1))
    queue.close()
    with TestClient(create_app(settings)) as client:
        job = wait_finished(client, job_id)
        assert job["state"] == "done"
        assert job["counts"] == {"total": 3, "pending": 0, "done": 2, "failed": 1}
        assert job["errors"][0]["error"]["code"] == "input_lost"
        assert sorted(result_zip(client, job_id).namelist()) == ["0.png", "2.png", "errors.json"]


def test_restart_fails_a_job_that_cannot_resume_with_a_reason(settings: Settings) -> None:
    job_id, queue = _crashed_job(settings, engine="u2netp")  # weights absent in the test dir
    queue.close()
    with TestClient(create_app(settings)) as client:
        job = wait_finished(client, job_id)
    assert job["state"] == "failed"
    assert "u2netp" in job["reason"]
    assert job["counts"]["failed"] == 3
    assert all(e["error"]["code"] == "model_not_available" for e in job["errors"])


def test_jobs_survive_a_restart_and_expire(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/jobs", files=[("images", ("a.png", image_bytes(), "image/png"))])
        job_id = r.json()["id"]
        wait_finished(client, job_id)
    with TestClient(create_app(settings)) as client:
        assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "done"
        backend = backend_of(client)
        backend.jobs.expire(older_than=time.time() + 1)
        assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "expired"
        assert_error(client.get(f"/v1/jobs/{job_id}/result"), 410, "expired")
        assert not backend.jobs.blobs.exists(output_key(job_id, "a.png"))
        assert not (settings.storage_dir / job_prefix(job_id)).exists()


@pytest.mark.parametrize("state", ["done", "failed", "expired", "queued", "running"])
def test_jobs_gauge_is_published(client: TestClient, state: str) -> None:
    text = client.get("/metrics").text
    assert f'bgbye_jobs{{state="{state}"}}' in text


def test_a_server_stopped_mid_job_resumes_it_on_restart(settings: Settings) -> None:
    settings.threads = 1
    gate = threading.Event()
    slow = FakeEngine("tiny", gate=gate)
    with TestClient(create_app(settings)) as client:
        inject(client, "tiny", slow)  # the first server's engine hangs on the first image
        files = [("images", (f"{i}.png", image_bytes(), "image/png")) for i in range(3)]
        job_id = client.post("/v1/jobs", files=files).json()["id"]
        deadline = time.monotonic() + 10
        while slow.calls == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # Shut down with the job running; the hung image finishes during shutdown.
        threading.Timer(0.3, gate.set).start()
    store = open_store(settings)
    stopped = store.get(job_id)
    store.close()
    assert stopped is not None and stopped.state == "running"
    with TestClient(create_app(settings)) as client:  # a fresh server, the real tiny model
        job = wait_finished(client, job_id)
        assert job["state"] == "done" and job["counts"]["done"] == 3
        assert sorted(result_zip(client, job_id).namelist()) == ["0.png", "1.png", "2.png"]
    assert slow.calls == 1


def test_openapi_documents_the_job_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    view = spec["components"]["schemas"]["JobView"]
    assert {"id", "state", "counts", "errors", "result", "status_url"} <= set(view["properties"])
    assert spec["components"]["schemas"]["JobState"]["enum"] == [
        "queued", "running", "done", "failed", "expired"]
    for path, method, status in (("/v1/jobs", "post", "202"),
                                 ("/v1/jobs/{job_id}", "get", "200")):
        content = spec["paths"][path][method]["responses"][status]["content"]
        assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/JobView"}


def _claims(client: TestClient, replica: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'bgbye_job_claims_total{{replica="{replica}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("bgbye_job_claims_total is not exported for this replica")


def test_job_queue_metrics(client: TestClient, settings: Settings) -> None:
    before = _claims(client, settings.replica)  # the registry is per process, not per test
    files = [("images", (f"{i}.png", image_bytes(), "image/png")) for i in range(3)]
    wait_finished(client, client.post("/v1/jobs", files=files).json()["id"])
    assert _claims(client, settings.replica) == before + 3
    text = client.get("/metrics").text
    assert "bgbye_job_queue_items 0.0" in text and "bgbye_job_leased_items 0.0" in text
    assert "bgbye_job_lease_expiries_total" in text


def test_job_files_on_an_object_store(settings: Settings) -> None:
    """BGBYE_STORAGE_URL with a non-local fsspec file system (the in-memory one stands in for
    s3://): inputs, outputs and the zip go through single PUTs and reads, nothing on disk."""
    import uuid

    settings.storage_url = f"memory://bgbye-{uuid.uuid4().hex}"
    with TestClient(create_app(settings)) as client:
        files = [("images", (f"{i}.png", image_bytes(), "image/png")) for i in range(2)]
        job = wait_finished(client, client.post("/v1/jobs", files=files).json()["id"])
        assert job["state"] == "done" and job["counts"]["done"] == 2
        assert sorted(result_zip(client, job["id"]).namelist()) == ["0.png", "1.png"]
        blobs = backend_of(client).jobs.blobs
        assert not blobs.local and blobs.exists(output_key(job["id"], "0.png"))
        assert not blobs.exists(input_key(job["id"], 0))  # done: the input is gone
    assert not (settings.storage_dir / "jobs").exists()


def test_a_stop_past_the_grace_period_hands_items_back(settings: Settings) -> None:
    """SIGTERM with an item still running after BGBYE_SHUTDOWN_GRACE_SECONDS: its lease is
    released (no waiting for it to run out), and the next start records the output the late
    item wrote instead of computing it again."""
    settings.threads = 1
    settings.shutdown_grace_seconds = 0.2
    gate = threading.Event()
    slow = FakeEngine("tiny", gate=gate)
    with TestClient(create_app(settings)) as client:
        inject(client, "tiny", slow)
        files = [("images", (f"{i}.png", image_bytes(), "image/png")) for i in range(2)]
        job_id = client.post("/v1/jobs", files=files).json()["id"]
        deadline = time.monotonic() + 10
        while slow.calls == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        threading.Timer(1.0, gate.set).start()  # long after the grace period
    queue = open_queue(settings)
    rows = list(queue.store.item_rows(job_id))
    late = queue.blobs.get(output_key(job_id, "0.png"))  # written by the late item
    queue.close()
    assert [(r["state"], r["lease_owner"]) for r in rows] == [("pending", None)] * 2
    with TestClient(create_app(settings)) as client:  # the real tiny model now
        job = wait_finished(client, job_id)
        assert job["state"] == "done" and job["counts"]["done"] == 2
        zf = result_zip(client, job_id)
        assert zf.read("0.png") == late  # recorded, not recomputed
        assert zf.read("1.png") != late  # the tiny model's output differs from the fake's
