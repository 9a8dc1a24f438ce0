"""Versioned SQL migrations: ``migrations/<dialect>/NNNN_name.sql``, applied in order once each,
recorded in ``schema_migrations``. The caller runs them inside one transaction that holds a
lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so replicas starting together
apply each migration exactly once."""

from __future__ import annotations

import re
from importlib import resources

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
