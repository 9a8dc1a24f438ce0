"""The Google Drive path through the real gdown code, with Google's hosts rerouted to a local
server that answers like Drive: direct file, virus-scan confirmation page, quota error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bgbye_pipelines.pipelines.data_ingestion.download import download_gdrive
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from tests.bgbye_pipelines.fixtures import FileServer, reroute_google, serve

PAYLOAD = b"PK-not-really-a-zip" * 1000


@pytest.fixture
def drive(monkeypatch: pytest.MonkeyPatch):
    state = FileServer(
        files={"DIS5K.zip": PAYLOAD},
        drive={"small": "DIS5K.zip", "big": "confirm:DIS5K.zip", "busy": "quota"},
    )
    with serve(state) as srv:
        reroute_google(monkeypatch, srv.url)
        yield srv


def test_direct_download(drive: FileServer, tmp_path: Path) -> None:
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    out = download_gdrive("small", tmp_path / "d.zip", sha256=sha)
    assert out.read_bytes() == PAYLOAD
    assert drive.requests[0]["path"] == "/uc" and "id=small" in drive.requests[0]["query"]


def test_confirmation_page_is_followed(drive: FileServer, tmp_path: Path) -> None:
    out = download_gdrive("big", tmp_path / "d.zip")
    assert out.read_bytes() == PAYLOAD
    assert [r["path"] for r in drive.requests] == ["/uc", "/download"]
    assert "confirm=t" in drive.requests[1]["query"]


def test_quota_page_is_a_clear_error(drive: FileServer, tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match=r"refused.*Too many users") as info:
        download_gdrive("busy", tmp_path / "d.zip", label="dis5k")
    assert info.value.message.startswith("dis5k:")
    assert not (tmp_path / "d.zip").exists()


def test_unknown_file_is_an_error(drive: FileServer, tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match="dis5k"):
        download_gdrive("nope", tmp_path / "d.zip", label="dis5k")


def test_checksum_is_checked(drive: FileServer, tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match="checksum mismatch"):
        download_gdrive("small", tmp_path / "d.zip", sha256="1" * 64)
