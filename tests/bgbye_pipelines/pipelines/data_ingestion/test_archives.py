from __future__ import annotations

from pathlib import Path

import pytest

from bgbye_pipelines.pipelines.data_ingestion.archives import MARKER, extract, is_archive
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from tests.bgbye_pipelines.fixtures import (
    pair_folder,
    tar_folder,
    tar_with_symlink,
    zip_folder,
    zip_with_member,
)


@pytest.mark.parametrize("packer", [zip_folder, tar_folder])
def test_extract_and_idempotent(tmp_path: Path, packer) -> None:
    src = pair_folder(tmp_path / "src", 3)
    archive = packer(src, tmp_path / "a.archive", prefix="top/")
    assert is_archive(archive)
    target = extract(archive, tmp_path / "raw" / "s")
    assert sorted(p.name for p in (target / "top" / "images").iterdir()) == [
        "syn_0000.jpg",
        "syn_0001.jpg",
        "syn_0002.jpg",
    ]
    assert (target / MARKER).is_file()
    stamp = (target / "top" / "images" / "syn_0000.jpg").stat().st_mtime_ns
    (target / "top" / "keep.txt").write_text("untouched when the archive is the same")
    extract(archive, target)
    assert (target / "top" / "keep.txt").exists()
    assert (target / "top" / "images" / "syn_0000.jpg").stat().st_mtime_ns == stamp


def test_new_archive_replaces_old_extraction(tmp_path: Path) -> None:
    a = zip_with_member(tmp_path / "a.zip", "old.txt")
    extract(a, tmp_path / "t")
    b = zip_with_member(tmp_path / "b.zip", "new.txt")
    extract(b, tmp_path / "t")
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [MARKER, "new.txt"]


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_slip_refused(tmp_path: Path, name: str) -> None:
    archive = zip_with_member(tmp_path / "slip.zip", name)
    with pytest.raises(IngestionError, match="unsafe path"):
        extract(archive, tmp_path / "raw" / "s")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "raw" / "evil.txt").exists()
    assert not (tmp_path / "raw" / "s").exists()
    assert not list((tmp_path / "raw").glob(".*extracting"))


def test_tar_symlink_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match="link in archive"):
        extract(tar_with_symlink(tmp_path / "l.tar.gz"), tmp_path / "raw" / "s")


def test_corrupt_archive(tmp_path: Path) -> None:
    good = zip_folder(pair_folder(tmp_path / "src", 3), tmp_path / "good.zip")
    data = bytearray(good.read_bytes())
    data[200:260] = b"\0" * 60  # damage member data but keep the central directory
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(IngestionError, match="corrupt"):
        extract(bad, tmp_path / "raw" / "s")
    not_archive = tmp_path / "x.zip"
    not_archive.write_bytes(b"<html>login page</html>")
    assert not is_archive(not_archive)
    with pytest.raises(IngestionError, match="not a zip or tar"):
        extract(not_archive, tmp_path / "raw" / "t")
