"""The embedded job store: one SQLite file beside the storage folder (``bgbye serve`` on a
laptop needs nothing else). One connection behind a lock; writes are tiny and BEGIN IMMEDIATE
serialises them, which also makes claims safe between processes sharing the file locally."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bgbye.server.jobs import migrate
from bgbye.server.jobs.model import ItemState
from bgbye.server.jobs.store import Cursor, JobStore, StoreUnavailableError, Tx


class _SqliteTx:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)


class SqliteJobStore(JobStore):
    dialect = "sqlite"

    def __init__(self, path: Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction() as tx:
            tx.execute(migrate.CREATE_TABLE)
            migrate.apply_pending(tx.execute, self.dialect, "?")

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailableError(f"The job database is busy ({exc}); retry shortly.",
                                            retry_after=1) from exc
            try:
                yield _SqliteTx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _now(self, tx: Tx) -> float:
        return time.time()

    def recover(self, worker: str) -> int:
        """The embedded store belongs to one server: at its start, every lease is stale."""
        with self.transaction() as tx:
            cur = tx.execute("UPDATE items SET lease_owner = NULL, lease_until = NULL "
                             "WHERE lease_owner IS NOT NULL AND state = ?",
                             (ItemState.PENDING.value,))
            return int(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._db.close()
