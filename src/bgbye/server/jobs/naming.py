"""Output names for a job's items: safe path components, then the shared naming rule."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from bgbye.naming import unique_name


def output_names(names: list[str], fmt: str) -> list[str]:
    """Safe, unique relative output paths that mirror the input names (folders kept)."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        parts = [_safe_part(p) for p in PurePosixPath(name.replace("\\", "/")).parts
                 if p not in ("", ".", "..", "/") and not p.startswith(".")]
        rel = PurePosixPath(*parts) if parts else PurePosixPath(f"image-{i + 1}")
        out.append(unique_name(rel.as_posix(), fmt, seen))
    return out


# Most file systems allow 255 bytes per name; keep room for ".<ext>.<fmt>" and the temp prefix.
_PART_BYTES = 180


def _safe_part(part: str) -> str:
    """One path component of an output name: no drive colons or control characters (which a
    Windows unzipper would honour), and short enough for any file system."""
    part = re.sub(r"[:\x00-\x1f\x7f]", "_", part)
    raw = part.encode("utf-8")
    if len(raw) <= _PART_BYTES:
        return part
    _, dot, ext = part.rpartition(".")
    keep = _PART_BYTES - len(ext.encode("utf-8")) - 1 if dot and len(ext) <= 10 else _PART_BYTES
    short = raw[:keep].decode("utf-8", "ignore")
    return f"{short}.{ext}" if dot and len(ext) <= 10 else short
