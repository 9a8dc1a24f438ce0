"""ingest_sources / check_ingestion: every kind of source, failures reported by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bgbye_pipelines.pipelines.data_ingestion.nodes import (
    RAW_PAIR_COLUMNS,
    check_ingestion,
    ingest_sources,
)
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from tests.bgbye_pipelines.fixtures import (
    FileServer,
    archive_bytes,
    pair_folder,
    serve,
    with_defaults,
)


def params(tmp_path: Path, sources: list[dict[str, Any]]) -> dict[str, Any]:
    return with_defaults("data_ingestion", {
        "raw_dir": str(tmp_path / "raw"),
        "downloads_dir": str(tmp_path / "dl"),
        "timeout_seconds": 5,
        "sources": sources,
    })


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in report["sources"]}


def test_all_kinds_and_failures_reported(tmp_path: Path) -> None:
    local = pair_folder(tmp_path / "local", 3, seed=5)
    zipped = archive_bytes(pair_folder(tmp_path / "remote", 4, seed=6), "zip")
    tarred = archive_bytes(pair_folder(tmp_path / "remote_tar", 2, seed=7), "tar")
    (tmp_path / "local.tar.gz").write_bytes(tarred)
    files = {"good.zip": zipped, "corrupt.zip": zipped[: len(zipped) // 2]}
    with serve(FileServer(files=files)) as srv:
        pairs, report = ingest_sources(
            params(
                tmp_path,
                [
                    {"name": "gen", "generated": {"count": 5, "seed": 1}, "required": True},
                    {"name": "folder", "path": str(local)},
                    {"name": "tarball", "path": str(tmp_path / "local.tar.gz")},
                    {"name": "web", "url": f"{srv.url}/good.zip"},
                    {"name": "broken", "url": f"{srv.url}/corrupt.zip"},
                    {"name": "gone", "url": f"{srv.url}/missing.zip"},
                    {"name": "nowhere", "path": str(tmp_path / "nope")},
                    {"name": "empty", "path": str(tmp_path), "pairing": {"images": "nothing"}},
                    {"name": "off", "path": "whatever", "enabled": False},
                    {
                        "name": "model_masks",
                        "path": str(local),
                        "mask_origin": "model",
                        "split": "test",
                    },
                ],
            )
        )
    entries = by_name(report)
    assert {n: e["pairs"] for n, e in entries.items() if e["status"] == "ok"} == {
        "gen": 5,
        "folder": 3,
        "tarball": 2,
        "web": 4,
        "model_masks": 3,
    }
    assert "corrupt" in entries["broken"]["reason"] or "zip" in entries["broken"]["reason"]
    assert "HTTP 404" in entries["gone"]["reason"]
    assert "path not found" in entries["nowhere"]["reason"]
    assert "no image/mask pairs" in entries["empty"]["reason"]
    assert entries["off"]["status"] == "disabled"
    assert report["failed"] == ["broken", "gone", "nowhere", "empty"]
    assert report["failed_required"] == []
    assert list(pairs.columns) == RAW_PAIR_COLUMNS
    assert pairs["id"].is_unique
    assert set(pairs.loc[pairs.source == "model_masks", "forced_split"]) == {"test"}
    assert set(pairs.loc[pairs.source == "model_masks", "mask_origin"]) == {"model"}
    assert (tmp_path / "raw" / "web" / "images").is_dir()  # extracted into raw_dir/<name>/
    assert entries["gen"]["provenance"]["license"].startswith("generated")
    assert check_ingestion(pairs, report) is pairs


def test_ingestion_is_idempotent(tmp_path: Path) -> None:
    zipped = archive_bytes(pair_folder(tmp_path / "remote", 2), "zip")
    with serve(FileServer(files={"a.zip": zipped})) as srv:
        p = params(tmp_path, [{"name": "web", "url": f"{srv.url}/a.zip"}])
        first, _ = ingest_sources(p)
        second, _ = ingest_sources(p)
    assert len(srv.requests) == 1
    assert first.equals(second)


def test_required_failure_fails_after_reporting(tmp_path: Path) -> None:
    pairs, report = ingest_sources(
        params(
            tmp_path,
            [
                {"name": "gen", "generated": {"count": 2}},
                {"name": "must", "path": str(tmp_path / "absent"), "required": True},
            ],
        )
    )
    assert report["failed_required"] == ["must"]
    with pytest.raises(IngestionError, match="must: must: path not found"):
        check_ingestion(pairs, report)


def test_nothing_ingested_fails(tmp_path: Path) -> None:
    pairs, report = ingest_sources(params(tmp_path, [{"name": "x", "path": str(tmp_path / "a")}]))
    with pytest.raises(IngestionError, match=r"Nothing was ingested.*x: x: path not found"):
        check_ingestion(pairs, report)
