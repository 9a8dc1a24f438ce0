"""Reading sources and writing outputs of a batch: local paths, or URLs through fsspec.

Writes are atomic: a local file is a temp file + fsync + rename (see :mod:`bgbye.atomic`); an
object store's single PUT is atomic already; any other filesystem gets a hidden temp name
(skipped by the planner) and a rename. fsspec is imported only when a URL is used.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bgbye.atomic import atomic_write_bytes
from bgbye.errors import OutputError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# Object stores: one PUT is already atomic (and "rename" would be copy + delete).
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


def url_to_fs(url: str) -> tuple[AbstractFileSystem, str]:
    try:
        import fsspec
    except ImportError as exc:
        raise OutputError(f"{url}: URLs need fsspec (pip install 'bgbye[ray]')") from exc
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def read_sources(srcs: Sequence[str]) -> list[bytes | BaseException]:
    """Bytes of each source, or the error reading it. URLs of one filesystem are fetched with
    one ``fs.cat`` call, which async filesystems (s3fs, gcsfs) run concurrently."""
    results: list[bytes | BaseException] = [b""] * len(srcs)
    by_protocol: dict[str, list[int]] = {}
    for i, src in enumerate(srcs):
        if is_url(src):
            by_protocol.setdefault(src.split("://", 1)[0], []).append(i)
        else:
            try:
                results[i] = Path(src).read_bytes()
            except OSError as exc:
                results[i] = exc
    for indices in by_protocol.values():
        fs, _ = url_to_fs(srcs[indices[0]])
        paths = [url_to_fs(srcs[i])[1] for i in indices]
        try:
            fetched = fs.cat(paths, on_error="return")
        except Exception as exc:  # the whole request failed: every file of it failed
            fetched = dict.fromkeys(paths, exc)
        for i, path in zip(indices, paths, strict=True):
            results[i] = fetched.get(path, FileNotFoundError(path))
    return results


def write_output(out: str, data: bytes) -> None:
    """Write ``data`` so a reader sees no file or a whole one, never a prefix."""
    if not is_url(out):
        atomic_write_bytes(Path(out), data)
        return
    from fsspec.implementations.local import LocalFileSystem

    fs, path = url_to_fs(out)
    if isinstance(fs, LocalFileSystem):
        atomic_write_bytes(Path(path), data)
        return
    try:
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if protocols & ATOMIC_PUT_PROTOCOLS:
            fs.pipe_file(path, data)
        else:  # other filesystems: a hidden temp name (skipped by planners), then rename
            folder, name = posixpath.split(path)
            tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.part"
            fs.makedirs(folder, exist_ok=True)
            fs.pipe_file(tmp, data)
            fs.mv(tmp, path)
    except OSError as exc:
        raise OutputError(f"Cannot write {out}: {exc.strerror or exc}") from exc
