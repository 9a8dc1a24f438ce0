"""Atomic file writes: a temp file in the same folder, fsync, then rename.

A reader (or a resumed batch) therefore sees either no file or a whole one, never a prefix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bgbye.errors import OutputError


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask is a
    set-and-restore that another thread could observe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see no file or a whole one.

    The file gets the mode a plain ``open()`` would give it (0o666 less the umask, so 0644
    usually): mkstemp's private 0600 would otherwise survive the rename.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write to {path.parent}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
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
