"""Turn CLI inputs into tasks: one source file -> one output path, tree mirrored.

Outputs are ``OUT/<relative dir>/<stem>.<format>``. Planning never touches pixels, so a
folder of millions of files is planned in the time it takes to list it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bgbye.atomic import is_partial
from bgbye.naming import unique_name

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


@dataclass(frozen=True)
class Task:
    src: Path
    out: Path
    rel: str  # the source path relative to its input root, for messages and mirroring

    def done(self) -> bool:
        """A finished output: present and non-empty (writes are atomic, so never partial)."""
        try:
            return self.out.stat().st_size > 0
        except OSError:
            return False


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() in IMAGE_SUFFIXES and not is_partial(path):
                yield path


def plan_tasks(inputs: Iterable[str | Path], out: Path, fmt: str) -> list[Task]:
    """Plan outputs. A single file with ``out`` ending in an image suffix writes exactly there.

    Names follow :mod:`bgbye.naming`: files whose stems collide in one folder (``a.jpg`` and
    ``a.png``) keep their original extension in the output name (``a.png.png``), so nothing is
    overwritten silently.
    """
    roots = [Path(p) for p in inputs]
    out = Path(out)
    if len(roots) == 1 and roots[0].is_file() and out.suffix.lower() in IMAGE_SUFFIXES:
        return [Task(roots[0], out, roots[0].name)]
    tasks: list[Task] = []
    taken: set[str] = set()
    resolved_out = out.resolve()
    for root in roots:
        if root.is_dir():
            pairs = [(p, p.relative_to(root)) for p in _walk(root)]
        elif root.exists():
            pairs = [(root, Path(root.name))]
        else:
            raise FileNotFoundError(f"No such file or folder: {root}")
        for src, rel in pairs:
            if resolved_out in src.resolve().parents:
                continue  # never re-process our own outputs when OUT sits inside the input
            tasks.append(Task(src, out / unique_name(rel.as_posix(), fmt, taken), str(rel)))
    return tasks


def clean_partials(out: Path) -> int:
    """Remove temp files a killed run left behind; returns how many."""
    count = 0
    if out.is_dir():
        for dirpath, _, filenames in os.walk(out):
            for name in filenames:
                path = Path(dirpath) / name
                if is_partial(path):
                    path.unlink(missing_ok=True)
                    count += 1
    return count
