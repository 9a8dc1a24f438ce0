"""``kill -9`` of a real ``bgbye serve`` while jobs run, then a restart on the same storage:
every job ends done or failed with a reason, no partial file is visible, results decode whole.
And a full disk under the server's storage: a clear error, no path disclosed, recovery."""

from __future__ import annotations

import io
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.reliability.procs import ServerProcess, bgbye_env, running_server

pytestmark = pytest.mark.slow

JOBS = 3
IMAGES_PER_JOB = 12


def _submit(url: str, job: int) -> str:
    files = [("images", (f"job{job}/img{i}.png", image_bytes("PNG", 900, 700), "image/png"))
             for i in range(IMAGES_PER_JOB)]
    r = httpx.post(f"{url}/v1/jobs", files=files, timeout=60)
    assert r.status_code == 202, r.text
    job_id: str = r.json()["id"]
    return job_id


def _job(url: str, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
    return job


def _assert_whole_pngs(folder: Path) -> int:
    """Every visible file decodes completely (Pillow raises on a truncated PNG)."""
    count = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            with Image.open(path) as img:
                img.load()
            count += 1
    return count


def test_kill9_during_jobs_then_restart(tmp_path: Path, model_dir: Path) -> None:
    storage = tmp_path / "storage"
    env = bgbye_env(model_dir, storage)
    server = ServerProcess(env, tmp_path / "server1.log")
    try:
        server.wait_ready()
        ids = [_submit(server.url, j) for j in range(JOBS)]
        deadline = time.monotonic() + 60
        while _job(server.url, ids[0])["counts"]["done"] < 2:  # mid-job, not before, not after
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.kill9()
    finally:
        server.stop()
    before = {i: _counts_on_disk(storage, i) for i in ids}
    assert any(c["pending_inputs"] for c in before.values()), "killed too late to prove anything"
    for job_id in ids:  # what the crash left: whole outputs only
        _assert_whole_pngs(storage / "jobs" / job_id / "out")

    with running_server(env, tmp_path / "server2.log") as again:
        deadline = time.monotonic() + 120
        while True:
            jobs = [_job(again.url, i) for i in ids]
            if all(j["state"] in ("done", "failed") for j in jobs):
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.1)
        for job in jobs:
            if job["state"] == "failed":
                assert job["reason"]
            assert job["counts"]["pending"] == 0
            for err in job["errors"]:
                assert err["error"]["code"] and err["error"]["message"]
            r = httpx.get(f"{again.url}/v1/jobs/{job['id']}/result", timeout=60)
            assert r.status_code == 200
            zf = zipfile.ZipFile(io.BytesIO(r.content))
            assert zf.testzip() is None
            names = [n for n in zf.namelist() if n != "errors.json"]
            assert len(names) == job["counts"]["done"]
            assert not any(Path(n).name.startswith(".") for n in names)
            for name in names:
                Image.open(io.BytesIO(zf.read(name))).load()
        assert sum(j["counts"]["done"] for j in jobs) == JOBS * IMAGES_PER_JOB
        assert "resuming job" in again.log()


def _counts_on_disk(storage: Path, job_id: str) -> dict[str, int]:
    folder = storage / "jobs" / job_id
    return {"pending_inputs": len(list((folder / "in").glob("*"))),
            "outputs": len([p for p in (folder / "out").rglob("*") if p.is_file()])}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (needs root); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_server_storage_full(tmp_path: Path, model_dir: Path, tiny_disk: Path) -> None:
    storage = tiny_disk / "storage"
    with running_server(bgbye_env(model_dir, storage), tmp_path / "server.log") as server:
        png = image_bytes("PNG", 300, 200)
        ok = httpx.post(f"{server.url}/process/local", files={"image": ("a.png", png)}, timeout=30)
        assert ok.status_code == 200
        filler = tiny_disk / "filler"
        with filler.open("wb") as fh:  # fill the disk to the last block
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        for path, field in (("/process/local", "image"), ("/v1/jobs", "images")):
            r = httpx.post(f"{server.url}{path}", files={field: ("a.png", png)}, timeout=30)
            assert r.status_code == 500, r.text
            error = r.json()["error"]
            assert error["code"] == "output_error"
            assert "space" in error["message"].lower() or "disk" in error["message"].lower()
            assert str(tiny_disk) not in error["message"], "the storage path must not leak"
        assert httpx.get(f"{server.url}{ok.json()['after']}").status_code == 200  # earlier: intact
        leftovers = [p for p in storage.rglob("*.part")]
        assert leftovers == []
        filler.unlink()
        again = httpx.post(f"{server.url}/process/local", files={"image": ("a.png", png)},
                           timeout=30)
        assert again.status_code == 200
