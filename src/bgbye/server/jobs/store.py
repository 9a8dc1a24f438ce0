"""The job store: rows for jobs and items, and the lease protocol that lets any replica work any
job. One SQL implementation over two dialects (SQLite embedded, PostgreSQL shared).

Claiming: a pending item whose lease is free or has run out is leased to a replica
(``lease_owner``, ``lease_until``); the replica heartbeats while it works and finishes the item
only if it still holds the lease, so an item whose replica was killed goes back to the queue,
another replica finishes it, and no item is ever recorded done twice.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from bgbye.errors import BgbyeError
from bgbye.server.jobs.model import (
    FINISHED,
    Claim,
    Item,
    ItemState,
    Job,
    JobSpec,
    JobState,
    NewItem,
)

log = logging.getLogger(__name__)

EVERY_IMAGE_FAILED = "every image failed; see errors"


class StoreUnavailableError(BgbyeError):
    """The job database cannot be reached; the client should retry."""

    code = "database_unavailable"
    http_status = 503

    def __init__(self, message: str = "The job database is unreachable; retry shortly.", *,
                 retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class StoreStats:
    jobs: dict[JobState, int]
    queued_items: int  # pending and not leased (or leased by a replica that stopped heartbeating)
    leased_items: int


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """One transaction: ``?`` placeholders in every dialect."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class JobStore(ABC):
    """Rows only: files live in the blob store (``bgbye.server.storage``)."""

    dialect: str

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """A write transaction; driver errors leave as StoreUnavailableError."""

    @abstractmethod
    def _now(self, tx: Tx) -> float:
        """The clock leases are measured by (the database's, where it is shared)."""

    # Appended to the claim query: PostgreSQL locks the picked rows and skips rows another
    # replica holds; SQLite serialises writers, so it needs nothing.
    pick_lock: str = ""

    def _pick(self, tx: Tx, now: float, limit: int) -> list[tuple[str, int, str | None]]:
        """Lock up to ``limit`` claimable items: (job_id, idx, previous lease owner)."""
        rows = tx.execute(
            "SELECT i.job_id, i.idx, i.lease_owner FROM items i JOIN jobs j ON j.id = i.job_id "
            "WHERE i.state = ? AND j.state IN (?, ?) "
            "AND (i.lease_until IS NULL OR i.lease_until < ?) "
            "ORDER BY j.created, i.job_id, i.idx LIMIT ?" + self.pick_lock,
            (ItemState.PENDING.value, JobState.QUEUED.value, JobState.RUNNING.value, now, limit),
        ).fetchall()
        return [(r[0], int(r[1]), r[2]) for r in rows]

    def _lock_job(self, tx: Tx, job_id: str) -> Any:
        """The job row, locked until the end of the transaction where the dialect can."""
        return tx.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()

    @abstractmethod
    def close(self) -> None: ...

    def ping(self) -> None:
        with self.transaction() as tx:
            tx.execute("SELECT 1").fetchone()

    # -- jobs -------------------------------------------------------------------------------
    def create(self, job_id: str, engine: str, options: dict[str, Any], items: list[NewItem],
               outputs: list[str]) -> None:
        with self.transaction() as tx:
            now = self._now(tx)
            tx.execute("INSERT INTO jobs (id, state, engine, options, created, updated) "
                       "VALUES (?,?,?,?,?,?)",
                       (job_id, JobState.QUEUED.value, engine, json.dumps(options), now, now))
            tx.executemany(
                "INSERT INTO items (job_id, idx, name, output, state, error_code, error_message) "
                "VALUES (?,?,?,?,?,?,?)",
                [(job_id, i, it.name, outputs[i],
                  (ItemState.FAILED if it.error else ItemState.PENDING).value,
                  it.error.code if it.error else None, it.error.message if it.error else None)
                 for i, it in enumerate(items)])
            self._finalize(tx, job_id, now)  # nothing to do when every input was refused

    def get(self, job_id: str) -> Job | None:
        with self.transaction() as tx:
            row = tx.execute(
                "SELECT id, state, engine, options, reason, created, updated, finished "
                "FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            items = tx.execute(
                "SELECT idx, name, output, state, error_code, error_message FROM items "
                "WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return Job(row[0], JobState(row[1]), row[2], json.loads(row[3]), row[4], row[5], row[6],
                   row[7], [Item(r[0], r[1], r[2], ItemState(r[3]), r[4], r[5]) for r in items])

    def ids_in(self, *states: JobState) -> list[str]:
        marks = ",".join("?" * len(states))
        with self.transaction() as tx:
            rows = tx.execute(f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY created",
                              [s.value for s in states]).fetchall()
        return [r[0] for r in rows]

    def set_state(self, job_id: str, state: JobState, reason: str | None = None) -> None:
        with self.transaction() as tx:
            now = self._now(tx)
            tx.execute("UPDATE jobs SET state = ?, reason = COALESCE(?, reason), updated = ?, "
                       "finished = ? WHERE id = ?",
                       (state.value, reason, now, now if state in FINISHED else None, job_id))

    def fail_job(self, job_id: str, code: str, message: str) -> None:
        """The job cannot run at all (its engine cannot load): every pending item fails."""
        with self.transaction() as tx:
            self._lock_job(tx, job_id)
            now = self._now(tx)
            tx.execute("UPDATE items SET state = ?, error_code = ?, error_message = ?, "
                       "lease_owner = NULL, lease_until = NULL WHERE job_id = ? AND state = ?",
                       (ItemState.FAILED.value, code, message, job_id, ItemState.PENDING.value))
            tx.execute("UPDATE jobs SET state = ?, reason = ?, updated = ?, finished = ? "
                       "WHERE id = ? AND state IN (?, ?)",
                       (JobState.FAILED.value, message, now, now, job_id,
                        JobState.QUEUED.value, JobState.RUNNING.value))

    def expire(self, older_than: float) -> list[str]:
        """Mark jobs finished before ``older_than`` expired; returns their ids (the caller
        deletes their files; the row stays, so a client learns 410 rather than 404)."""
        with self.transaction() as tx:
            rows = tx.execute("SELECT id FROM jobs WHERE state IN (?, ?) AND finished < ?",
                              (JobState.DONE.value, JobState.FAILED.value, older_than)).fetchall()
            ids = [r[0] for r in rows]
            now = self._now(tx)
            for job_id in ids:
                tx.execute("UPDATE jobs SET state = ?, updated = ? WHERE id = ?",
                           (JobState.EXPIRED.value, now, job_id))
        return ids

    def stats(self) -> StoreStats:
        with self.transaction() as tx:
            now = self._now(tx)
            by_state = dict(tx.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                            .fetchall())
            row = tx.execute(
                "SELECT COALESCE(SUM(CASE WHEN lease_until IS NULL OR lease_until < ? "
                "THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN lease_until >= ? THEN 1 "
                "ELSE 0 END), 0) FROM items WHERE state = ?",
                (now, now, ItemState.PENDING.value)).fetchone()
        return StoreStats({s: int(by_state.get(s.value, 0)) for s in JobState},
                          int(row[0]), int(row[1]))

    # -- the lease protocol ---------------------------------------------------------------------
    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Claim]:
        """Lease up to ``limit`` pending items (oldest job first) to ``worker``."""
        if limit <= 0:
            return []
        with self.transaction() as tx:
            now = self._now(tx)
            picked = self._pick(tx, now, limit)
            if not picked:
                return []
            for job_id, idx, _ in picked:
                tx.execute("UPDATE items SET lease_owner = ?, lease_until = ?, "
                           "attempts = attempts + 1 WHERE job_id = ? AND idx = ?",
                           (worker, now + lease_seconds, job_id, idx))
            job_ids = sorted({p[0] for p in picked})
            marks = ",".join("?" * len(job_ids))
            specs = {r[0]: JobSpec(r[0], r[1], json.loads(r[2])) for r in tx.execute(
                f"SELECT id, engine, options FROM jobs WHERE id IN ({marks})", job_ids)
                .fetchall()}
            tx.execute(f"UPDATE jobs SET state = ?, updated = ? WHERE state = ? AND id IN "
                       f"({marks})", (JobState.RUNNING.value, now, JobState.QUEUED.value,
                                      *job_ids))
            claims = []
            for job_id, idx, previous in picked:
                row = tx.execute("SELECT idx, name, output, state FROM items "
                                 "WHERE job_id = ? AND idx = ?", (job_id, idx)).fetchone()
                claims.append(Claim(specs[job_id], Item(row[0], row[1], row[2],
                                                        ItemState(row[3])), previous))
        return claims

    def heartbeat(self, worker: str, lease_seconds: float) -> int:
        """Extend every lease ``worker`` still holds; returns how many."""
        with self.transaction() as tx:
            now = self._now(tx)
            cur = tx.execute("UPDATE items SET lease_until = ? WHERE lease_owner = ? "
                             "AND state = ?", (now + lease_seconds, worker,
                                               ItemState.PENDING.value))
            return int(cur.rowcount)

    def release(self, worker: str) -> int:
        """Give back every lease ``worker`` holds (graceful shutdown): the items are queued."""
        with self.transaction() as tx:
            cur = tx.execute("UPDATE items SET lease_owner = NULL, lease_until = NULL "
                             "WHERE lease_owner = ? AND state = ?",
                             (worker, ItemState.PENDING.value))
            return int(cur.rowcount)

    def recover(self, worker: str) -> int:
        """At start-up: leases held under this replica's name belong to its previous life
        (a container restarted in the same pod); hand them back now instead of waiting for
        them to run out."""
        return self.release(worker)

    def finish(self, worker: str, job_id: str, idx: int, error: BgbyeError | None = None
               ) -> bool:
        """Record an item done (or failed) if ``worker`` still holds its lease; False when the
        lease was lost (it expired and another replica took the item over)."""
        with self.transaction() as tx:
            self._lock_job(tx, job_id)  # one finisher per job at a time: the last one finalizes
            now = self._now(tx)
            cur = tx.execute(
                "UPDATE items SET state = ?, error_code = ?, error_message = ?, "
                "lease_owner = NULL, lease_until = NULL, done_by = ?, "
                "completions = completions + 1 "
                "WHERE job_id = ? AND idx = ? AND state = ? AND lease_owner = ?",
                ((ItemState.FAILED if error else ItemState.DONE).value,
                 error.code if error else None, error.message if error else None, worker,
                 job_id, idx, ItemState.PENDING.value, worker))
            if cur.rowcount != 1:
                return False
            tx.execute("UPDATE jobs SET updated = ? WHERE id = ?", (now, job_id))
            self._finalize(tx, job_id, now)
        return True

    def _finalize(self, tx: Tx, job_id: str, now: float) -> None:
        """A job with no pending item left ends: failed if every item failed, else done."""
        row = tx.execute("SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0),"
                         " COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0) "
                         "FROM items WHERE job_id = ?",
                         (ItemState.PENDING.value, ItemState.FAILED.value, job_id)).fetchone()
        total, pending, failed = int(row[0]), int(row[1]), int(row[2])
        if pending:
            return
        if total and failed == total:
            state, reason = JobState.FAILED, EVERY_IMAGE_FAILED
        else:
            state, reason = JobState.DONE, None
        tx.execute("UPDATE jobs SET state = ?, reason = COALESCE(?, reason), updated = ?, "
                   "finished = ? WHERE id = ? AND state IN (?, ?)",
                   (state.value, reason, now, now, job_id, JobState.QUEUED.value,
                    JobState.RUNNING.value))

    def item_rows(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every column of a job's items, for tests and operators (attempts, who did it)."""
        with self.transaction() as tx:
            rows = tx.execute("SELECT idx, state, attempts, completions, done_by, lease_owner "
                              "FROM items WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        keys = ("idx", "state", "attempts", "completions", "done_by", "lease_owner")
        for r in rows:
            yield dict(zip(keys, r, strict=True))
