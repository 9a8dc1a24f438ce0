from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from bgbye_pipelines.pipelines.dataset_generation.nodes import (
    collect_subjects,
    select_confident_subjects,
)
from tests.bgbye_pipelines.fixtures import write_png


def test_collect_from_manifest_takes_training_annotations_only(tmp_path: Path) -> None:
    manifest = pd.DataFrame(
        {
            "id": ["a/1", "a/2", "a/3", "b/1"],
            "source": ["a", "a", "a", "b"],
            "image_path": ["i1", "i2", "i3", "i4"],
            "mask_path": ["m1", "m2", "m3", "m4"],
            "mask_origin": ["annotation", "annotation", "model", "annotation"],
            "split": ["train", "test", "train", "train"],
        }
    )
    manifest.to_parquet(tmp_path / "m.parquet")
    subjects = collect_subjects({"subjects": {"manifest": str(tmp_path / "m.parquet")}})
    assert sorted(subjects["subject_id"]) == ["a/1", "b/1"]
    only_b = collect_subjects(
        {"subjects": {"manifest": str(tmp_path / "m.parquet"), "sources": ["b"]}}
    )
    assert only_b["subject_id"].tolist() == ["b/1"]
    with pytest.raises(IngestionError, match="does not exist"):
        collect_subjects({"subjects": {"manifest": str(tmp_path / "absent.parquet")}})
    with pytest.raises(IngestionError, match="no subjects"):
        collect_subjects({"subjects": {"manifest": None}})


def test_max_subjects_is_a_stable_sample(tmp_path: Path) -> None:
    params: dict[str, Any] = {
        "work_dir": str(tmp_path),
        "subjects": {
            "manifest": None,
            "max_subjects": 3,
            "extra_sources": [{"name": "g", "generated": {"count": 6, "seed": 1}}],
        },
    }
    first = collect_subjects(params)["subject_id"].tolist()
    assert len(first) == 3 and first == collect_subjects(params)["subject_id"].tolist()


def test_unlabelled_images_are_cut_out_by_a_bgbye_engine(tmp_path: Path) -> None:
    params = {
        "work_dir": str(tmp_path),
        "cutout": {"name": "heuristic", "workers": 1},
        "subjects": {
            "manifest": None,
            "extra_sources": [
                {"name": "u", "generated": {"count": 2, "seed": 4}, "pairing": {"masks": None}}
            ],
        },
    }
    subjects = collect_subjects(params)
    assert subjects["mask_origin"].unique().tolist() == ["model:heuristic"]
    for mask in subjects["mask_path"]:
        assert Path(mask).is_file() and Path(mask).is_relative_to(tmp_path / "cutouts" / "u")


def test_select_confident_subjects(tmp_path: Path) -> None:
    good = np.zeros((50, 50), np.uint8)
    good[10:40, 10:40] = 255
    rows = []
    for name, mask in {
        "good": good,
        "unsure": np.full((50, 50), 128, np.uint8),
        "tiny": np.pad(np.full((2, 2), 255, np.uint8), 24),
        "full": np.full((50, 50), 255, np.uint8),
    }.items():
        rows.append(
            {"subject_id": name, "mask_path": str(write_png(tmp_path / f"{name}.png", mask))}
        )
    rows.append({"subject_id": "unreadable", "mask_path": str(tmp_path / "absent.png")})
    kept, rejected = select_confident_subjects(pd.DataFrame(rows), {"workers": 1})
    assert kept["subject_id"].tolist() == ["good"]
    assert kept.loc[0, "confidence"] == 1.0
    assert rejected == {"low_confidence": 2, "subject_too_small": 1, "subject_fills_frame": 1}
