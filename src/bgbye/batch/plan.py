"""Plan a batch once, for local paths and fsspec URLs alike: one source -> one output.

Outputs are ``OUT/<relative dir>/<name>`` with names from :mod:`bgbye.naming` (``a.jpg`` and
``a.png`` become ``a.png`` and ``a.png.png``). Planning never touches pixels, so a folder of
millions of files is planned in the time it takes to list it. :func:`pending` is the resume
rule (an output that exists and is not empty is finished: writes are atomic).

Locations are strings: a local path, or a URL (``file://``, ``s3://`` with s3fs, ``memory://``
...) read through fsspec, which is needed only when a URL is given.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bgbye.atomic import is_partial
from bgbye.batch.files import is_url, url_to_fs
from bgbye.errors import BgbyeError
from bgbye.naming import unique_name

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


class NoImagesError(BgbyeError):
    code = "no_images"
    http_status = 400


@dataclass(frozen=True)
class Task:
    """One unit of work; ``src`` and ``out`` are local paths or URLs."""

    src: str
    out: str
    rel: str  # the source path relative to its input root (POSIX), for messages and mirroring


def _wanted(rel: PurePosixPath) -> bool:
    """An image, not a temp file of ours, not under a hidden folder."""
    return (rel.suffix.lower() in IMAGE_SUFFIXES and not is_partial(Path(rel.name))
            and not any(part.startswith(".") for part in rel.parts[:-1]))


def _list_local(root: Path, out: str) -> Iterator[tuple[str, str]]:
    """(source, relative POSIX path) under a local folder, sorted, skipping the output tree."""
    skip = Path(out).resolve() if not is_url(out) else None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        if skip is not None and (folder.resolve() == skip or skip in folder.resolve().parents):
            dirnames[:] = []  # never re-process our own outputs when OUT sits inside the input
            continue
        for name in sorted(filenames):
            rel = PurePosixPath((folder / name).relative_to(root).as_posix())
            if _wanted(rel):
                yield str(folder / name), rel.as_posix()


def _list_url(root_url: str, out: str) -> Iterator[tuple[str, str]]:
    fs, root = url_to_fs(root_url)
    root = root.rstrip("/")
    out_fs, out_root = url_to_fs(out) if is_url(out) else (None, None)
    same_fs = out_fs is not None and out_fs.protocol == fs.protocol
    for path in sorted(fs.find(root)):
        if same_fs and out_root and path.startswith(out_root.rstrip("/") + "/"):
            continue
        rel = PurePosixPath(posixpath.relpath(path, root))
        if _wanted(rel):
            yield fs.unstrip_protocol(path), rel.as_posix()


def _single_file(location: str) -> str | None:
    """The location itself when it is one file (absolute or URL), else None."""
    if is_url(location):
        fs, path = url_to_fs(location)
        return str(fs.unstrip_protocol(path)) if fs.isfile(path) else None
    return location if Path(location).is_file() else None


def _exists(location: str) -> bool:
    if is_url(location):
        fs, path = url_to_fs(location)
        return bool(fs.exists(path))
    return Path(location).exists()


def _location(location: str) -> str:
    """A URL in fsspec's normal spelling (so outputs compare equal to listings)."""
    if is_url(location):
        fs, path = url_to_fs(location)
        return str(fs.unstrip_protocol(path))
    return location


def _join(out: str, name: str) -> str:
    if is_url(out):
        fs, root = url_to_fs(out)
        return str(fs.unstrip_protocol(f"{root.rstrip('/')}/{name}"))
    return str(Path(out) / name)


def plan(inputs: Iterable[str | Path], output: str | Path, fmt: str) -> list[Task]:
    """Plan outputs for files and folders (local or URLs) into ``output``.

    A single file with ``output`` ending in an image suffix writes exactly there. Raises
    ``FileNotFoundError`` for an input that does not exist.
    """
    roots = [str(p) for p in inputs]
    out = str(output)
    if len(roots) == 1 and PurePosixPath(out).suffix.lower() in IMAGE_SUFFIXES:
        single = _single_file(roots[0])
        if single is not None:
            name = posixpath.basename(single) if is_url(single) else Path(single).name
            return [Task(single, _location(out), name)]
    tasks: list[Task] = []
    taken: set[str] = set()
    for root in roots:
        single = _single_file(root)
        if single is not None:
            name = posixpath.basename(single) if is_url(single) else Path(single).name
            pairs: Iterable[tuple[str, str]] = [(single, name)]
        elif not _exists(root):
            raise FileNotFoundError(f"No such file or folder: {root}")
        elif is_url(root):
            pairs = _list_url(root, out)
        else:
            pairs = _list_local(Path(root), out)
        for src, rel in pairs:
            tasks.append(Task(src, _join(out, unique_name(rel, fmt, taken)), rel))
    return tasks


def pending(tasks: Sequence[Task], overwrite: bool = False) -> list[Task]:
    """The tasks still to do: those whose output is missing or empty (resume), or all of them
    with ``overwrite``. URL outputs are checked with one listing per output tree."""
    if overwrite:
        return list(tasks)
    finished: set[str] = set()
    url_outs = [t.out for t in tasks if is_url(t.out)]
    if url_outs:
        fs, _ = url_to_fs(url_outs[0])
        folders = {posixpath.dirname(url_to_fs(u)[1]) for u in url_outs}
        for root in _common_roots(folders):
            if fs.isdir(root):
                for path, info in fs.find(root, detail=True).items():
                    if (info.get("size") or 0) > 0:
                        finished.add(fs.unstrip_protocol(path))
    return [t for t in tasks
            if not (t.out in finished if is_url(t.out) else _local_done(t.out))]


def _local_done(path: str) -> bool:
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False


def _common_roots(folders: Iterable[str]) -> list[str]:
    """The shortest set of folders covering ``folders`` (so each subtree is listed once)."""
    roots: list[str] = []
    for folder in sorted(folders):
        if not any(folder == r or folder.startswith(r.rstrip("/") + "/") for r in roots):
            roots.append(folder)
    return roots


def clean_partials(output: str | Path) -> int:
    """Remove temp files a killed run left in a local output tree; returns how many."""
    out = str(output)
    if is_url(out):
        fs, path = url_to_fs(out)
        from fsspec.implementations.local import LocalFileSystem

        if not isinstance(fs, LocalFileSystem):
            return 0  # object stores write in one PUT: nothing partial to clean
        out = path
    count = 0
    if os.path.isdir(out):
        for dirpath, _, filenames in os.walk(out):
            for name in filenames:
                path_ = Path(dirpath) / name
                if is_partial(path_):
                    path_.unlink(missing_ok=True)
                    count += 1
    return count
