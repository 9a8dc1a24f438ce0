"""data_ingestion + data_preprocessing end to end with DataCatalog and SequentialRunner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bgbye_pipelines.pipelines.data_ingestion import create_pipeline as ingestion
from bgbye_pipelines.pipelines.data_preprocessing import create_pipeline as preprocessing
from bgbye_pipelines.pipelines.data_preprocessing.nodes import MANIFEST_COLUMNS
from tests.bgbye_pipelines.fixtures import run_pipeline


def run_both(tmp_path: Path, sources: list[dict], **pre: object) -> dict:
    return run_pipeline(
        ingestion() + preprocessing(),
        {
            "params:data_ingestion": {"raw_dir": str(tmp_path / "raw"), "sources": sources},
            "params:data_preprocessing": {
                "resolution": 48,
                "workers": 1,
                "model_input_dir": str(tmp_path / "root" / "05_model_input"),
                "split_ratios": {"train": 0.8, "val": 0.1, "test": 0.1},
                "contact_sheet_samples": 4, "contact_sheet_tile": 128,
                **pre,
            },
        },
        data_root=tmp_path / "root",
    )


def test_generated_sources_end_to_end(tmp_path: Path) -> None:
    out = run_both(
        tmp_path,
        [
            {"name": "a", "generated": {"count": 10, "seed": 1}},
            {"name": "b", "generated": {"count": 4, "seed": 2, "soft": True}},
            {
                "name": "ref",
                "generated": {"count": 3, "seed": 3},
                "mask_origin": "model",
                "split": "test",
            },
        ],
    )
    manifest: pd.DataFrame = out["model_input_manifest"]
    assert list(manifest.columns) == MANIFEST_COLUMNS
    counts = out["data_report"]["counts"]
    assert counts["a"] == {"train": 8, "val": 1, "test": 1, "total": 10, "binary": 10, "soft": 0}
    assert counts["b"]["soft"] == 4
    assert counts["ref"]["test"] == 3 and counts["ref"]["train"] == 0
    assert all(Path(p).is_file() for p in manifest["model_input_image"])
    assert out["data_contact_sheet"].size[1] >= 3 * 128


@pytest.mark.slow
def test_real_shared_data(real_data: Path, tmp_path: Path) -> None:
    """One real source in full (skips when ../shared/data/real is absent)."""
    out = run_both(
        tmp_path,
        [{"name": "weizmann_horse", "path": str(real_data / "weizmann_horse"), "required": True}],
    )
    counts = out["data_report"]["counts"]["weizmann_horse"]
    assert counts["total"] + out["data_report"]["rejected_total"] == 318
    assert counts["val"] > 0 and counts["test"] > 0
