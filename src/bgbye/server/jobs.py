"""Batch jobs: state in SQLite under the storage folder, so a restarted server knows its jobs.

Layout: ``<storage>/jobs.sqlite3`` and ``<storage>/jobs/<id>/{in,out}/``. Inputs are written
(atomically) before the job id is returned; each output is written atomically, so a crash
leaves either no output or a whole one. On start-up, unfinished jobs resume (their pending
items are redone) or, when that is impossible, end as ``failed`` with a reason: a job never
silently vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bgbye.atomic import atomic_write_bytes
from bgbye.errors import BgbyeError, OutputError
from bgbye.monitoring import Metrics
from bgbye.naming import unique_name
from bgbye.server.errors import OUTPUT_ERROR_MESSAGE
from bgbye.server.storage import new_id, remove_tree

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
JOB_STATES = (QUEUED, RUNNING, DONE, FAILED, EXPIRED)
FINISHED = (DONE, FAILED)
PENDING, ITEM_DONE, ITEM_FAILED = "pending", "done", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    engine TEXT NOT NULL,
    options TEXT NOT NULL,
    reason TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    output TEXT NOT NULL,
    state TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    PRIMARY KEY (job_id, idx)
);
"""


@dataclass
class NewItem:
    """One accepted input: its display name and bytes, or the error found while checking it."""

    name: str
    data: bytes | None
    error: BgbyeError | None = None


@dataclass
class Item:
    idx: int
    name: str
    output: str
    state: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class Job:
    id: str
    state: str
    engine: str
    options: dict[str, Any]
    reason: str | None
    created: float
    updated: float
    finished: float | None
    items: list[Item] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {"total": len(self.items), PENDING: 0, ITEM_DONE: 0, ITEM_FAILED: 0}
        for item in self.items:
            counts[item.state] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "engine": self.engine,
            "options": self.options,
            "reason": self.reason,
            "created": self.created,
            "updated": self.updated,
            "finished": self.finished,
            "counts": self.counts(),
            "errors": [
                {"index": i.idx, "name": i.name,
                 "error": {"code": i.error_code, "message": i.error_message}}
                for i in self.items if i.state == ITEM_FAILED
            ],
            "result": f"/v1/jobs/{self.id}/result" if self.state in FINISHED else None,
        }


def output_names(names: list[str], fmt: str) -> list[str]:
    """Safe, unique relative output paths that mirror the input names (folders kept)."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        parts = [_safe_part(p) for p in PurePosixPath(name.replace("\\", "/")).parts
                 if p not in ("", ".", "..", "/") and not p.startswith(".")]
        rel = PurePosixPath(*parts) if parts else PurePosixPath(f"image-{i + 1}")
        out.append(unique_name(rel.as_posix(), fmt, seen))
    return out


# Most file systems allow 255 bytes per name; keep room for ".<ext>.<fmt>" and the temp prefix.
_PART_BYTES = 180


def _safe_part(part: str) -> str:
    """One path component of an output name: no drive colons or control characters (which a
    Windows unzipper would honour), and short enough for any file system."""
    part = re.sub(r"[:\x00-\x1f\x7f]", "_", part)
    raw = part.encode("utf-8")
    if len(raw) <= _PART_BYTES:
        return part
    _, dot, ext = part.rpartition(".")
    keep = _PART_BYTES - len(ext.encode("utf-8")) - 1 if dot and len(ext) <= 10 else _PART_BYTES
    short = raw[:keep].decode("utf-8", "ignore")
    return f"{short}.{ext}" if dot and len(ext) <= 10 else short


class JobStore:
    """SQLite access; one connection guarded by a lock (writes are tiny and rare)."""

    def __init__(self, storage_dir: Path, metrics: Metrics | None = None):
        self.root = Path(storage_dir)
        self.metrics = metrics
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def input_path(self, job_id: str, idx: int) -> Path:
        return self.job_dir(job_id) / "in" / f"{idx:06d}"

    def create(self, engine: str, options: dict[str, Any], items: list[NewItem],
               extra_files: dict[str, bytes] | None = None) -> Job:
        """Write inputs to disk, then record the job; only then is its id handed out."""
        job_id = new_id()
        folder = self.job_dir(job_id)
        for i, item in enumerate(items):
            if item.error is None and item.data is not None:
                atomic_write_bytes(folder / "in" / f"{i:06d}", item.data)
        for name, data in (extra_files or {}).items():
            atomic_write_bytes(folder / name, data)
        outputs = output_names([it.name for it in items], str(options.get("format", "png")))
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO jobs (id, state, engine, options, created, updated) "
                "VALUES (?,?,?,?,?,?)",
                (job_id, QUEUED, engine, json.dumps(options), now, now),
            )
            self._db.executemany(
                "INSERT INTO items (job_id, idx, name, output, state, error_code, error_message) "
                "VALUES (?,?,?,?,?,?,?)",
                [(job_id, i, it.name, outputs[i], ITEM_FAILED if it.error else PENDING,
                  it.error.code if it.error else None, it.error.message if it.error else None)
                 for i, it in enumerate(items)],
            )
            self._db.execute("COMMIT")
        self.publish_metrics()
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, state, engine, options, reason, created, updated, finished "
                "FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            items = self._db.execute(
                "SELECT idx, name, output, state, error_code, error_message FROM items "
                "WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return Job(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7],
                   [Item(*it) for it in items])

    def ids_in(self, *states: str) -> list[str]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY created", states).fetchall()
        return [r[0] for r in rows]

    def set_state(self, job_id: str, state: str, reason: str | None = None) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = ?, reason = COALESCE(?, reason), updated = ?, "
                "finished = CASE WHEN ? IN ('done', 'failed') THEN ? ELSE finished END "
                "WHERE id = ?",
                (state, reason, now, state, now, job_id),
            )
        self.publish_metrics()

    def finish_item(self, job_id: str, idx: int, error: BgbyeError | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE items SET state = ?, error_code = ?, error_message = ? "
                "WHERE job_id = ? AND idx = ?",
                (ITEM_FAILED if error else ITEM_DONE, error.code if error else None,
                 error.message if error else None, job_id, idx),
            )
            self._db.execute("UPDATE jobs SET updated = ? WHERE id = ?", (time.time(), job_id))

    def fail_pending(self, job_id: str, code: str, message: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE items SET state = 'failed', error_code = ?, error_message = ? "
                "WHERE job_id = ? AND state = 'pending'", (code, message, job_id))

    def expire(self, older_than: float) -> int:
        """Delete files of jobs finished before ``older_than``; the row stays, state expired."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE state IN ('done', 'failed') AND finished < ?",
                (older_than,)).fetchall()
        for (job_id,) in rows:
            remove_tree(self.job_dir(job_id))
            self.set_state(job_id, EXPIRED)
        return len(rows)

    def publish_metrics(self) -> None:
        if self.metrics is None:
            return
        with self._lock:
            rows = dict(self._db.execute(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        for state in JOB_STATES:
            self.metrics.jobs.labels(state=state).set(rows.get(state, 0))

    def iter_result_zip(self, job: Job) -> Iterator[bytes]:
        """Stream a zip of the finished outputs (stored, not deflated: PNG/WebP/JPEG are
        compressed already) plus ``errors.json`` when some items failed."""
        sink = _ChunkSink()
        out_dir = self.job_dir(job.id) / "out"
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:
            for item in job.items:
                if item.state != ITEM_DONE:
                    continue
                path = out_dir / item.output
                if not path.is_file():
                    continue
                info = zipfile.ZipInfo.from_file(path, arcname=item.output)  # keeps the mtime
                with path.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                        yield sink.take()
                yield sink.take()
            failed = [e for e in job.to_dict()["errors"]]
            if failed:
                zf.writestr("errors.json", json.dumps(failed, indent=2))
        yield sink.take()


class _ChunkSink:
    """A write-only, unseekable file for ZipFile; ``take`` hands out what was written so far."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def write(self, data: bytes) -> int:
        self._buf += data
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class JobRunner:
    """Processes queued jobs one after another, ``pool.threads`` items of a job at a time.

    ``process`` is called on a pool thread with (job, item, input path, output path) and must
    write the output atomically or raise a BgbyeError.
    """

    def __init__(self, store: JobStore, pool: Any, process: Any, prepare: Any):
        self.store = store
        self.pool = pool
        self.process = process
        self.prepare = prepare  # (job) -> None on the pool; raises BgbyeError if it cannot run
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._recover()
        self._task = asyncio.create_task(self._loop(), name="bgbye-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    def _recover(self) -> None:
        """Re-queue unfinished jobs from a previous run; fail those whose inputs are gone."""
        for job_id in self.store.ids_in(QUEUED, RUNNING):
            job = self.store.get(job_id)
            assert job is not None
            folder = self.store.job_dir(job_id)
            for item in job.items:
                if item.state != PENDING:
                    continue
                if (folder / "out" / item.output).is_file():
                    # Finished just before the stop (outputs are atomic, so it is whole).
                    self.store.finish_item(job_id, item.idx)
                elif not (folder / "in" / f"{item.idx:06d}").is_file():
                    self.store.finish_item(job_id, item.idx, BgbyeError(
                        "The input was lost when the server restarted.", code="input_lost"))
            log.info("resuming job %s after restart", job_id)
            self.store.set_state(job_id, QUEUED)
            self.submit(job_id)

    async def _loop(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await self._run(job_id)
            except asyncio.CancelledError:
                raise  # shutdown: the job stays queued/running in SQLite and resumes next start
            except Exception as exc:  # a bug must not kill the runner or lose the job
                log.exception("job %s crashed", job_id)
                self.store.fail_pending(job_id, "internal_error", "Internal error.")
                self.store.set_state(job_id, FAILED, reason=f"internal error: {type(exc).__name__}")

    async def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.state not in (QUEUED, RUNNING):
            return
        self.store.set_state(job_id, RUNNING)
        try:
            await self.pool.run(lambda: self.prepare(job), wait=True)
        except BgbyeError as exc:
            self.store.fail_pending(job_id, exc.code, exc.message)
            self.store.set_state(job_id, FAILED, reason=exc.message)
            return
        pending = [it for it in job.items if it.state == PENDING]
        limit = asyncio.Semaphore(self.pool.threads)

        async def one(item: Item) -> None:
            async with limit:
                error: BgbyeError | None = None
                try:
                    await self.pool.run(lambda: self.process(job, item), wait=True)
                except OutputError as exc:
                    # The detail names server paths: it goes to the log, not to the client.
                    log.error("job %s item %d: %s", job_id, item.idx, exc.message)
                    error = OutputError(OUTPUT_ERROR_MESSAGE)
                except BgbyeError as exc:
                    error = exc
                except Exception as exc:
                    log.exception("job %s item %d failed", job_id, item.idx)
                    error = BgbyeError(f"Internal error: {type(exc).__name__}",
                                       code="internal_error")
                self.store.finish_item(job_id, item.idx, error)
                if error is not None:  # recorded as failed: its input is no longer needed
                    self.store.input_path(job_id, item.idx).unlink(missing_ok=True)

        await asyncio.gather(*(one(it) for it in pending))
        final = self.store.get(job_id)
        assert final is not None
        counts = final.counts()
        if counts["total"] and counts[ITEM_FAILED] == counts["total"]:
            self.store.set_state(job_id, FAILED, reason="every image failed; see errors")
        else:
            self.store.set_state(job_id, DONE)
