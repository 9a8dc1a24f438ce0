"""Files the seed-compatible endpoints hand out: ``uploads/<id>.<ext>`` and ``results/<id>.png``.

Ids are 128-bit random tokens; a name is accepted only if it matches the exact shape we create,
so no request can reach a path outside the storage folder. Files expire after
``result_ttl_seconds`` (checked on read and by a periodic sweep).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path

from bgbye.atomic import atomic_write_bytes, is_partial

# token_urlsafe(16) -> 22 characters of [A-Za-z0-9_-]
_NAME = re.compile(r"^[A-Za-z0-9_-]{22}\.(png|jpg|webp|bmp|tiff|gif)$")
KINDS = ("uploads", "results")
# Pillow format -> file extension for stored originals.
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp",
              "TIFF": "tiff", "GIF": "gif"}


def new_id() -> str:
    return secrets.token_urlsafe(16)


class FileStore:
    def __init__(self, root: Path, ttl_seconds: int):
        self.root = Path(root)
        self.ttl = ttl_seconds
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def save(self, kind: str, name: str, data: bytes) -> Path:
        path = self._path(kind, name)
        if path is None:
            raise ValueError(f"refusing to store an unsafe name {name!r}")
        atomic_write_bytes(path, data)
        return path

    def _path(self, kind: str, name: str) -> Path | None:
        if kind not in KINDS or not _NAME.match(name):
            return None
        return self.root / kind / name

    def open(self, kind: str, name: str) -> Path | None:
        """The file if it exists and has not expired; expired files are deleted here."""
        path = self._path(kind, name)
        if path is None or not path.is_file():
            return None
        if self._expired(path, time.time()):
            path.unlink(missing_ok=True)
            return None
        return path

    def _expired(self, path: Path, now: float) -> bool:
        try:
            return path.stat().st_mtime + self.ttl < now
        except FileNotFoundError:
            return True

    def sweep(self, now: float | None = None) -> int:
        """Delete expired files and temp files left by killed writers; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        for kind in KINDS:
            for path in (self.root / kind).iterdir():
                if path.is_file() and (self._expired(path, now) or
                                       (is_partial(path) and path.stat().st_mtime + 60 < now)):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
