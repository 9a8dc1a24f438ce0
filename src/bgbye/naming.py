"""The one output-naming rule, shared by the CLI (batch plan), the jobs and the website.

``dir/a.jpg`` becomes ``dir/a.<fmt>``. When that name is already taken in the same batch
(``a.jpg`` and ``a.png`` in one folder), the second keeps its whole source name:
``a.png.<fmt>``; only if that is taken too (the same name twice, as uploads can be) a counter
follows the stem: ``a-2.<fmt>``, ``a-3.<fmt>``... Names are compared case-insensitively, so the
outputs stay distinct on case-insensitive file systems and in zips.

``server/static/naming.js`` is the same rule in JavaScript for the page's zip download;
``tests/test_naming.py`` runs both on the same cases.
"""

from __future__ import annotations

from collections.abc import Iterable


def split_name(name: str) -> tuple[str, str]:
    """``"a.tar.gz"`` -> ``("a.tar", ".gz")``; a leading or trailing dot is not a suffix."""
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""


def unique_name(rel: str, fmt: str, taken: set[str]) -> str:
    """The output name for the source path ``rel`` (POSIX, relative), reserved in ``taken``.

    ``taken`` holds the lower-cased names given so far in this batch; it is updated.
    """
    folder, _, name = rel.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    stem, _ = split_name(name)
    candidates = [f"{prefix}{stem}.{fmt}", f"{prefix}{name}.{fmt}"]
    n = 2
    while True:
        for candidate in candidates:
            if candidate.lower() not in taken:
                taken.add(candidate.lower())
                return candidate
        candidates = [f"{prefix}{stem}-{n}.{fmt}"]
        n += 1


def output_names(rels: Iterable[str], fmt: str) -> list[str]:
    """:func:`unique_name` over a whole batch, in order."""
    taken: set[str] = set()
    return [unique_name(rel, fmt, taken) for rel in rels]
