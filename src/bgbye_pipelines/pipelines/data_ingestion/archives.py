"""Safe, idempotent archive extraction (zip, tar, tar.gz/bz2/xz).

Members that would land outside the target (``../``, absolute paths, links) are refused
before anything is written ("zip slip"). Extraction goes to a hidden sibling folder that is
renamed into place at the end, so a killed run never leaves a half-extracted source behind.
A marker file records which archive (by sha256) the folder came from: same archive, no work.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from bgbye.atomic import atomic_write_text
from bgbye_pipelines.pipelines.data_ingestion.download import sha256_file
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError

MARKER = ".bgbye_source.json"


def is_archive(path: Path) -> bool:
    return path.is_file() and (zipfile.is_zipfile(path) or _is_tar(path))


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _check_member(name: str, label: str) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise IngestionError(f"{label}: unsafe path in archive refused: {name!r}")


def _extract_zip(archive: Path, target: Path, label: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        bad = zf.testzip()  # CRC of every member: catches corrupt data, not just headers
        if bad is not None:
            raise IngestionError(f"{label}: corrupt archive member {bad!r} in {archive.name}")
        for info in zf.infolist():
            _check_member(info.filename, label)
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:  # a symlink stored in the zip
                raise IngestionError(
                    f"{label}: symbolic link in archive refused: {info.filename!r}"
                )
        zf.extractall(target)


def _extract_tar(archive: Path, target: Path, label: str) -> None:
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            _check_member(member.name, label)
            if member.issym() or member.islnk():
                raise IngestionError(f"{label}: link in archive refused: {member.name!r}")
        # The "data" filter also refuses device files and strips setuid bits.
        tf.extractall(target, filter="data")


def extract(archive: Path, target: Path, *, label: str = "") -> Path:
    """Extract ``archive`` into ``target`` unless it already holds exactly this archive."""
    label = label or archive.name
    digest = sha256_file(archive)
    marker = target / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()).get("archive_sha256") == digest:
                return target
        except (OSError, ValueError):
            pass  # unreadable marker: extract again
    work = target.with_name(f".{target.name}.extracting")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, work, label)
        elif _is_tar(archive):
            _extract_tar(archive, work, label)
        else:
            raise IngestionError(f"{label}: {archive.name} is not a zip or tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise IngestionError(f"{label}: corrupt archive {archive.name}: {exc}") from exc
    except IngestionError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    atomic_write_text(
        work / MARKER, json.dumps({"archive": archive.name, "archive_sha256": digest})
    )
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)
    return target
