"""dataset_generation end to end, then its output read back as a data_ingestion source."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bgbye_pipelines.pipelines.data_ingestion import create_pipeline as ingestion
from bgbye_pipelines.pipelines.data_preprocessing import create_pipeline as preprocessing
from bgbye_pipelines.pipelines.dataset_generation import create_pipeline as generation
from tests.bgbye_pipelines.conf_fixtures import env_parameters
from tests.bgbye_pipelines.fixtures import run_pipeline


def test_composites_become_a_training_source(tmp_path: Path) -> None:
    out_dir = tmp_path / "composited"
    gen = run_pipeline(
        generation(),
        {
            "params:dataset_generation": {
                **env_parameters("base")["dataset_generation"],  # the documented defaults
                "output_dir": str(out_dir),
                "work_dir": str(tmp_path / "work"),
                "canvas": [64, 48],
                "composites_per_subject": 2,
                "workers": 1,
                "subjects": {
                    "manifest": None,
                    "extra_sources": [
                        {
                            "name": "subj",
                            "generated": {"count": 4, "width": 64, "height": 48, "seed": 9},
                        }
                    ],
                },
            }
        },
    )
    report = gen["dataset_generation_report"]
    kept = report["subjects"]
    assert kept + sum(report["subject_rejections"].values()) == 4
    assert kept >= 2 and report["composites"] == 2 * kept
    assert report["per_subject_source"] == {"subj": 2 * kept}
    listing = pd.read_csv(out_dir / "manifest.csv")
    assert {"subject_id", "background", "scale", "feather_sigma"} <= set(listing.columns)
    assert json.loads((out_dir / "PROVENANCE.json").read_text())["subject_sources"] == ["subj"]
    assert not list(tmp_path.glob(".composited.building"))

    data = run_pipeline(
        ingestion() + preprocessing(),
        {
            "params:data_ingestion": {
                "raw_dir": str(tmp_path / "raw"),
                "sources": [
                    {"name": "base", "generated": {"count": 5, "seed": 1}},
                    {**report["add_as_source"], "required": True},
                ],
            },
            "params:data_preprocessing": {
                "resolution": 32,
                "workers": 1,
                "model_input_dir": str(tmp_path / "root" / "05_model_input"),
            },
        },
        data_root=tmp_path / "root",
    )
    counts = data["data_report"]["counts"]["composited"]
    n = report["composites"]
    assert counts["total"] == n and counts["train"] == n and counts["soft"] == n
    provenance = data["data_report"]["provenance"]["composited"]
    assert provenance["mask_origin"] == "synthetic" and "composites" in provenance["dataset"]
