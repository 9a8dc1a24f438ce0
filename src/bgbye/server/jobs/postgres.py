"""The shared job store: PostgreSQL through psycopg 3 (``BGBYE_DATABASE_URL``), for several
replicas. Items are claimed with ``FOR UPDATE SKIP LOCKED`` so replicas never wait on each
other's rows; leases are measured by the database's clock, so replicas' clocks need not agree."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bgbye.server.jobs import migrate
from bgbye.server.jobs.store import Cursor, JobStore, StoreUnavailableError, Tx
from bgbye.server.jobs.urls import hide_password

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key for migrations: any constant every bgbye replica agrees on.
MIGRATION_LOCK = 0x6267627965  # "bgbye"
_DRIVER_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(_pg(sql), params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_pg(sql), rows)


def migrate_database(url: str, *, timeout: float = 30.0) -> int:
    """Apply pending migrations under an advisory lock; waits up to ``timeout`` seconds for the
    database to accept connections (a replica may start before it). Returns how many ran."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5, application_name="bgbye-migrate") as conn:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                    conn.execute(migrate.CREATE_TABLE.replace("REAL", "DOUBLE PRECISION"))
                    applied = migrate.apply_pending(conn.execute, "postgres", "%s")
                return applied
        except psycopg.OperationalError as exc:
            reason = hide_password(str(exc).strip().splitlines()[0] if str(exc) else "", url)
            if time.monotonic() > deadline:
                raise StoreUnavailableError(
                    f"The job database could not be reached for {timeout:.0f} s ({reason}).") \
                    from exc
            log.warning("job database not reachable yet, retrying: %s", reason)
            time.sleep(1.0)


class PostgresJobStore(JobStore):
    dialect = "postgres"
    pick_lock = " FOR UPDATE OF i SKIP LOCKED"

    def __init__(self, url: str, *, name: str = "bgbye", max_connections: int = 8,
                 wait_seconds: float = 3.0, startup_timeout: float = 30.0):
        migrate_database(url, timeout=startup_timeout)
        self._wait = wait_seconds
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=1, max_size=max_connections, timeout=wait_seconds, open=False,
            check=ConnectionPool.check_connection, name=name,
            kwargs={"connect_timeout": max(1, int(wait_seconds)), "application_name": name})
        self._pool.open(wait=False)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self._pool.connection(timeout=self._wait) as conn, conn.transaction():
                yield _PgTx(conn)
        except _DRIVER_ERRORS as exc:
            log.warning("job database error: %s", str(exc).strip().splitlines()[0] if str(exc)
                        else type(exc).__name__)
            raise StoreUnavailableError() from exc

    def _now(self, tx: Tx) -> float:
        return float(tx.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])

    def _lock_job(self, tx: Tx, job_id: str) -> Any:
        return tx.execute("SELECT state FROM jobs WHERE id = ? FOR UPDATE", (job_id,)).fetchone()

    def close(self) -> None:
        self._pool.close()
