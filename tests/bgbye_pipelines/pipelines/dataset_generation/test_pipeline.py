"""dataset_generation end to end, then its output read back as a data_ingestion source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bgbye_pipelines.pipelines.data_ingestion import create_pipeline as ingestion
from bgbye_pipelines.pipelines.data_preprocessing import create_pipeline as preprocessing
from bgbye_pipelines.pipelines.dataset_generation import create_pipeline as generation
from tests.bgbye_pipelines.conf_fixtures import env_parameters
from tests.bgbye_pipelines.fixtures import run_pipeline


def test_composites_become_a_training_source(tmp_path: Path) -> None:
    root = tmp_path / "root"
    out_dir = root / "03_primary" / "composited"  # conf/test's composited_source under root
    gen = run_pipeline(
        generation(),
        {
            "params:dataset_generation": {
                **env_parameters("base")["dataset_generation"],  # the documented defaults
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
        data_root=root,
    )
    report = gen["dataset_generation_report"]
    kept = report["subjects"]
    assert kept + sum(report["subject_rejections"].values()) == 4
    assert kept >= 2 and report["composites"] == 2 * kept
    assert report["per_subject_source"] == {"subj": 2 * kept}
    listing = pd.read_csv(out_dir / "manifest.csv")
    assert {"subject_id", "background", "scale", "feather_sigma"} <= set(listing.columns)
    assert json.loads((out_dir / "PROVENANCE.json").read_text())["subject_sources"] == ["subj"]
    assert not list(out_dir.parent.glob(".composited.*"))  # built aside, swapped in whole
    # The composites are the catalog entry composited_source: read back through it, they are
    # what the pipeline's node makes (each composite is seeded by its name).
    from bgbye_pipelines.datasets import ImageSourceDataset
    from bgbye_pipelines.pipelines.dataset_generation.nodes import generate_composites
    from tests.bgbye_pipelines.fixtures import project_catalog, with_defaults

    catalog = project_catalog(root)
    assert isinstance(catalog.get("composited_source"), ImageSourceDataset)
    source = catalog.load("composited_source")
    assert source["path"] == str(out_dir) == report["add_as_source"]["path"]
    assert sorted(source["images"]) == sorted(listing["name"]) == sorted(source["masks"])
    made = generate_composites(gen["subjects"], with_defaults("dataset_generation", {
        **env_parameters("base")["dataset_generation"], "canvas": [64, 48]}))
    name = sorted(made["pairs"])[0]
    image, matte, row = made["pairs"][name]()
    assert np.array_equal(source["masks"][name](), matte)  # PNG: exact
    assert source["images"][name]().shape == image.shape == (48, 64, 3)
    assert row["subject_id"] == listing.set_index("name").loc[name, "subject_id"]

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
                "model_input_dir": str(tmp_path / "root2" / "05_model_input"),
            },
        },
        data_root=tmp_path / "root2",
    )
    counts = data["data_report"]["counts"]["composited"]
    n = report["composites"]
    assert counts["total"] == n and counts["train"] == n and counts["soft"] == n
    provenance = data["data_report"]["provenance"]["composited"]
    assert provenance["mask_origin"] == "synthetic" and "composites" in provenance["dataset"]
