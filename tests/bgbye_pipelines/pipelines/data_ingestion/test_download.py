"""The URL source against a local HTTP server: cache, resume, truncation, checksum, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bgbye_pipelines.pipelines.data_ingestion.download import download_http
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from tests.bgbye_pipelines.fixtures import FileServer, serve

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_verify_and_cache(tmp_path: Path) -> None:
    with serve(FileServer(files={"a.zip": PAYLOAD})) as srv:
        dest = download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256=SHA)
        assert dest.read_bytes() == PAYLOAD
        download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256=SHA)
        assert len(srv.requests) == 1  # the second call was served from the cache


def test_resume_from_partial_file(tmp_path: Path) -> None:
    (tmp_path / "a.zip.part").write_bytes(PAYLOAD[:1000])
    with serve(FileServer(files={"a.zip": PAYLOAD})) as srv:
        download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256=SHA)
    assert srv.requests[0]["range"] == "bytes=1000-"
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD
    assert not (tmp_path / "a.zip.part").exists()


def test_truncated_download_is_reported_then_resumed(tmp_path: Path) -> None:
    with serve(FileServer(files={"a.zip": PAYLOAD}, truncate_once={"a.zip"})) as srv:
        with pytest.raises(IngestionError, match="resum"):
            download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256=SHA, label="duts")
        kept = (tmp_path / "a.zip.part").stat().st_size
        assert 0 < kept <= len(PAYLOAD) // 2
        assert not (tmp_path / "a.zip").exists()
        download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256=SHA)
    assert srv.requests[1]["range"] == f"bytes={kept}-"
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(tmp_path: Path) -> None:
    (tmp_path / "a.zip.part").write_bytes(b"garbage")
    with serve(FileServer(files={"a.zip": PAYLOAD}, ignore_range=True)) as srv:
        download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256=SHA)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_file(tmp_path: Path) -> None:
    with (
        serve(FileServer(files={"a.zip": PAYLOAD})) as srv,
        pytest.raises(IngestionError, match="checksum mismatch"),
    ):
        download_http(f"{srv.url}/a.zip", tmp_path / "a.zip", sha256="0" * 64)
    assert not (tmp_path / "a.zip").exists()


def test_http_errors_and_unreachable(tmp_path: Path) -> None:
    with serve() as srv:
        with pytest.raises(IngestionError, match="HTTP 404"):
            download_http(f"{srv.url}/missing.zip", tmp_path / "m.zip")
        url = srv.url
    with pytest.raises(IngestionError, match="unreachable"):
        download_http(f"{url}/gone.zip", tmp_path / "g.zip", timeout=2)
