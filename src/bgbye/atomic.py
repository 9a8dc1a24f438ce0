"""Atomic file writes: a temp file in the same folder, fsync, then rename.

A reader (or a resumed batch) therefore sees either no file or a whole one, never a prefix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bgbye.errors import OutputError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write to {path.parent}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"Cannot write {path}: {exc.strerror or exc}") from exc


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def is_partial(path: Path) -> bool:
    """Temp files left by a killed writer; batch walkers ignore and clean them."""
    return path.name.startswith(".") and path.name.endswith(".part")
