"""Storage: the files the seed-compatible endpoints hand out (``uploads/<id>.<ext>``,
``results/<id>.png``, a local folder), and the blob store that holds job inputs and outputs.

Ids are 128-bit random tokens; a name is accepted only if it matches the exact shape we create,
so no request can reach a path outside the storage folder. Files expire after
``result_ttl_seconds`` (checked on read and by a periodic sweep).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

from bgbye.atomic import atomic_write_bytes, is_partial
from bgbye.errors import OutputError

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


class BlobStore:
    """Job inputs and outputs by key (``jobs/<id>/in/000003``), over fsspec: a local folder (the
    default, also a ReadWriteMany volume shared by replicas) or an object store URL
    (``s3://bucket/prefix`` with s3fs installed).

    Writes are atomic: temp file + rename on a file system, a single PUT on an object store
    (an object becomes visible whole or not at all)."""

    def __init__(self, url: str | Path):
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        try:
            self.fs, root = fsspec.core.url_to_fs(str(url))
        except (ImportError, ValueError) as exc:
            raise ValueError(f"Cannot open the storage {str(url)!r}: {exc}") from exc
        self.root = root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        if self.local:
            atomic_write_bytes(Path(self.path(key)), data)
            return
        try:
            self.fs.pipe_file(self.path(key), data)
        except OSError as exc:
            raise OutputError(f"Cannot write {self.path(key)}: {exc}") from exc

    def get(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self.path(key))
        return data

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self.path(key)))

    def open(self, key: str) -> BinaryIO:
        fh: BinaryIO = self.fs.open(self.path(key), "rb")
        return fh

    def modified(self, key: str) -> float:
        try:
            return float(self.fs.modified(self.path(key)).timestamp())
        except (NotImplementedError, OSError, AttributeError):
            return time.time()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def delete_tree(self, prefix: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(prefix), recursive=True)
