from __future__ import annotations

from pathlib import Path

import pytest

from bgbye_pipelines.pipelines.data_ingestion import create_pipeline
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from tests.bgbye_pipelines.fixtures import run_pipeline


def test_pipeline_on_generated_sources(tmp_path: Path) -> None:
    params = {
        "raw_dir": str(tmp_path / "raw"),
        "sources": [
            {"name": "a", "generated": {"count": 4, "seed": 1}},
            {"name": "b", "generated": {"count": 3, "seed": 2, "soft": True}},
            {"name": "missing", "path": str(tmp_path / "nope")},
        ],
    }
    out = run_pipeline(create_pipeline(), {"params:data_ingestion": params})
    assert out["raw_pairs"].groupby("source").size().to_dict() == {"a": 4, "b": 3}
    assert out["ingestion_report"]["failed"] == ["missing"]


def test_pipeline_fails_on_required_source(tmp_path: Path) -> None:
    params = {
        "raw_dir": str(tmp_path / "raw"),
        "sources": [
            {"name": "a", "generated": {"count": 2}},
            {"name": "req", "path": str(tmp_path / "nope"), "required": True},
        ],
    }
    with pytest.raises(IngestionError, match="req"):
        run_pipeline(create_pipeline(), {"params:data_ingestion": params})
