"""The job queue a server holds: rows in a ``JobStore`` (SQLite or PostgreSQL), files in a
``BlobStore`` (a folder or a bucket). Inputs are stored before the job's row exists, so a job id
is only ever handed out for a job whose inputs are safe."""

from __future__ import annotations

import json
import logging
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bgbye.monitoring import Metrics
from bgbye.server.jobs.model import (
    ItemState,
    Job,
    JobState,
    NewItem,
    extra_key,
    input_key,
    job_prefix,
    output_key,
)
from bgbye.server.jobs.naming import output_names
from bgbye.server.jobs.store import JobStore, StoreStats
from bgbye.server.storage import BlobStore, new_id
from bgbye.settings import Settings

log = logging.getLogger(__name__)

SQLITE_FILE = "jobs.sqlite3"


class JobQueue:
    def __init__(self, store: JobStore, blobs: BlobStore, metrics: Metrics | None = None):
        self.store = store
        self.blobs = blobs
        self.metrics = metrics

    def close(self) -> None:
        self.store.close()

    def create(self, engine: str, options: dict[str, Any], items: list[NewItem],
               extra_files: dict[str, bytes] | None = None) -> Job:
        """Write inputs, then record the job; only then is its id handed out."""
        job_id = new_id()
        outputs = output_names([it.name for it in items], str(options.get("format", "png")))
        try:
            for i, item in enumerate(items):
                if item.error is None and item.data is not None:
                    self.blobs.put(input_key(job_id, i), item.data)
            for name, data in (extra_files or {}).items():
                self.blobs.put(extra_key(job_id, name), data)
            self.store.create(job_id, engine, options, items, outputs)
        except BaseException:  # refused (disk full, database down): leave no orphan files
            self.blobs.delete_tree(job_prefix(job_id))
            raise
        job = self.store.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def expire(self, older_than: float) -> int:
        """Expire jobs finished before ``older_than`` and delete their files."""
        ids = self.store.expire(older_than)
        for job_id in ids:
            self.blobs.delete_tree(job_prefix(job_id))
        return len(ids)

    def publish_metrics(self) -> StoreStats:
        stats = self.store.stats()
        if self.metrics is not None:
            for state, count in stats.jobs.items():
                self.metrics.jobs.labels(state=state.value).set(count)
            self.metrics.job_queue_items.set(stats.queued_items)
            self.metrics.job_leased_items.set(stats.leased_items)
        return stats

    def iter_result_zip(self, job: Job) -> Iterator[bytes]:
        """Stream a zip of the finished outputs (stored, not deflated: PNG/WebP/JPEG are
        compressed already) plus ``errors.json`` when some items failed."""
        sink = _ChunkSink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:
            for item in job.items:
                key = output_key(job.id, item.output)
                if item.state != ItemState.DONE or not self.blobs.exists(key):
                    continue
                stamp = time.localtime(self.blobs.modified(key))[:6]
                info = zipfile.ZipInfo(item.output, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
                info.external_attr = 0o644 << 16
                with self.blobs.open(key) as src, zf.open(info, "w", force_zip64=True) as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                        yield sink.take()
                yield sink.take()
            failed = [e.model_dump() for e in job.errors()]
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


def open_store(settings: Settings) -> JobStore:
    """PostgreSQL when ``BGBYE_DATABASE_URL`` is set, else SQLite in the storage folder."""
    if settings.database_url:
        from bgbye.server.jobs.postgres import PostgresJobStore
        from bgbye.server.jobs.urls import check_database_url

        check_database_url(settings.database_url)
        return PostgresJobStore(settings.database_url, name=f"bgbye-{settings.replica}",
                                startup_timeout=settings.database_startup_timeout_seconds)
    from bgbye.server.jobs.sqlite import SqliteJobStore

    return SqliteJobStore(Path(settings.storage_dir) / SQLITE_FILE)


def open_queue(settings: Settings, metrics: Metrics | None = None) -> JobQueue:
    return JobQueue(open_store(settings), BlobStore(settings.storage_url or settings.storage_dir),
                    metrics)


__all__ = ["JobQueue", "JobState", "open_queue", "open_store"]
