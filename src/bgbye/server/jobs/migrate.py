"""Versioned SQL migrations: ``migrations/<dialect>/NNNN_name.sql``, applied in order once each,
recorded in ``schema_migrations``. The caller runs them inside one transaction that holds a
lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so replicas starting together
apply each migration exactly once."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)")


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) in version order."""
    folder = resources.files("bgbye.server.jobs.migrations").joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found)


def statements(sql: str) -> list[str]:
    """Split a migration file into statements (our files hold no ``;`` inside literals)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def apply_pending(execute: Callable[..., Any], dialect: str, placeholder: str) -> int:
    """Run every migration not yet recorded in ``schema_migrations`` through ``execute`` (inside
    the caller's transaction, which holds whatever lock the dialect needs). Returns how many ran."""
    done = {r[0] for r in execute("SELECT version FROM schema_migrations").fetchall()}
    record = ("INSERT INTO schema_migrations (version, name, applied) VALUES "
              f"({placeholder}, {placeholder}, {placeholder})")
    applied = 0
    for version, name, sql in migrations(dialect):
        if version in done:
            continue
        for statement in statements(sql):
            execute(statement)
        execute(record, (version, name, time.time()))
        applied += 1
        log.info("job database: applied migration %s", name)
    return applied
