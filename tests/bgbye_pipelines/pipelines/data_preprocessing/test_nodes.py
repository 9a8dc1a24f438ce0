from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from bgbye_pipelines.pipelines.data_ingestion.nodes import ingest_sources
from bgbye_pipelines.pipelines.data_preprocessing.nodes import (
    MANIFEST_COLUMNS,
    build_data_report,
    inspect_pairs,
    make_model_inputs,
    split_pairs,
    validate_pairs,
)
from tests.bgbye_pipelines.fixtures import pair_folder, project_catalog, with_defaults, write_png

PARAMS: dict[str, Any] = with_defaults("data_preprocessing",
                                       {"resolution": 32, "workers": 1, "min_side": 16})


def raw_pairs(tmp_path: Path) -> pd.DataFrame:
    """Two good sources plus one with every kind of problem."""
    pair_folder(tmp_path / "good", 6, seed=1)
    pair_folder(tmp_path / "copy", 2, seed=1)  # same bytes as good/syn_0000..1
    bad = tmp_path / "bad"
    img = np.full((40, 40, 3), 90, np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    write_png(bad / "images" / "empty.png", img + 1)
    write_png(bad / "masks" / "empty.png", mask)
    write_png(bad / "images" / "full.png", img + 2)
    write_png(bad / "masks" / "full.png", mask + 255)
    write_png(bad / "images" / "mismatch.png", img + 3)
    write_png(bad / "masks" / "mismatch.png", np.zeros((20, 40), np.uint8))
    write_png(bad / "images" / "tiny.png", np.zeros((8, 8, 3), np.uint8))
    write_png(bad / "masks" / "tiny.png", np.full((8, 8), 255, np.uint8))
    (bad / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    write_png(bad / "masks" / "broken.png", mask)
    write_png(bad / "images" / "again.png", img + 4)  # a duplicate within the source
    write_png(bad / "images" / "again2.png", img + 4)
    m = mask.copy()
    m[10:30, 10:30] = 255
    write_png(bad / "masks" / "again.png", m)
    write_png(bad / "masks" / "again2.png", m)
    pairs, _ = ingest_sources(
        with_defaults("data_ingestion", {
            "raw_dir": str(tmp_path / "raw"),
            "sources": [
                {"name": "good", "path": str(tmp_path / "good")},
                {"name": "copy", "path": str(tmp_path / "copy")},
                {"name": "bad", "path": str(bad)},
            ],
        })
    )
    return pairs


def test_validation_reasons(tmp_path: Path) -> None:
    inspected = inspect_pairs(raw_pairs(tmp_path), PARAMS)
    valid, rejections = validate_pairs(inspected, PARAMS)
    reasons = dict(zip(rejections["id"], rejections["reason"], strict=True))
    assert reasons == {
        "bad/broken": "unreadable_image",
        "bad/mismatch": "size_mismatch",
        "bad/tiny": "too_small",
        "bad/empty": "empty_mask",
        "bad/full": "full_mask",
        "copy/syn_0000": "duplicate_cross_source",
        "copy/syn_0001": "duplicate_cross_source",
        "bad/again2": "duplicate_within_source",
    }
    assert "image 40x40, mask 40x20" in rejections.set_index("id").loc["bad/mismatch", "detail"]
    assert sorted(valid["id"]) == ["bad/again"] + [f"good/syn_000{i}" for i in range(6)]


def test_excluded_mask_origin(tmp_path: Path) -> None:
    pairs = raw_pairs(tmp_path)
    pairs.loc[pairs.source == "good", "mask_origin"] = "model"
    _, rejections = validate_pairs(
        inspect_pairs(pairs, PARAMS), {**PARAMS, "exclude_mask_origins": ["model"]}
    )
    assert (rejections["reason"] == "excluded_mask_origin").sum() == 6


def test_model_inputs_are_catalog_partitions_cached_by_content(tmp_path: Path) -> None:
    """The resized copies are conf/test's catalog entries model_input_images / _masks: saved
    lazily through them, loaded back as the arrays the node made, named by the manifest, and
    not recomputed by a rerun."""
    from kedro_datasets.partitions import PartitionedDataset

    from bgbye_pipelines.datasets import ParallelPartitionedDataset

    root = tmp_path / "root"
    params = {**PARAMS, "model_input_dir": str(root / "05_model_input")}
    valid, rejections = validate_pairs(inspect_pairs(raw_pairs(tmp_path), params), params)
    images, masks, manifest = make_model_inputs(split_pairs(valid, params), params)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["id"].is_unique and set(manifest["split"]) <= {"train", "val", "test"}
    assert all(callable(v) for v in [*images.values(), *masks.values()])  # lazy: nothing yet
    assert not (root / "05_model_input").exists()

    catalog = project_catalog(root)
    for name, parts in (("model_input_images", images), ("model_input_masks", masks)):
        dataset = catalog.get(name)
        assert isinstance(dataset, ParallelPartitionedDataset)
        assert isinstance(dataset, PartitionedDataset)
        catalog.save(name, parts)
    loaded_images, loaded_masks = (catalog.load("model_input_images"),
                                   catalog.load("model_input_masks"))
    assert sorted(loaded_images) == sorted(images) and sorted(loaded_masks) == sorted(masks)
    mi = root / "05_model_input"
    assert sorted(manifest["model_input_image"]) == sorted(str(mi / "images" / i) for i in images)
    assert sorted(manifest["model_input_mask"]) == sorted(str(mi / "masks" / m) for m in masks)
    first = Path(manifest.loc[0, "model_input_image"])
    assert first.is_relative_to(mi / "images" / "32")
    image_id = first.relative_to(mi / "images").as_posix()
    mask_id = Path(manifest.loc[0, "model_input_mask"]).relative_to(mi / "masks").as_posix()
    assert Image.open(first).size == (32, 32)
    assert Image.open(manifest.loc[0, "model_input_mask"]).mode == "L"
    made, back = images[image_id](), loaded_images[image_id]()
    assert back.shape == made.shape == (32, 32, 3)
    assert np.abs(back.astype(int) - made.astype(int)).mean() < 4  # JPEG
    assert np.array_equal(loaded_masks[mask_id](), masks[mask_id]())  # PNG: exact
    assert not list(mi.rglob("*.part"))  # atomic writes leave no temp files

    stamp = first.stat().st_mtime_ns
    images2, masks2, again = make_model_inputs(split_pairs(valid, params), params)
    assert again.equals(manifest)

    def recomputed() -> np.ndarray:
        raise AssertionError("an existing copy was resized again")

    catalog.save("model_input_images", dict.fromkeys(images2, recomputed))
    catalog.save("model_input_masks", dict.fromkeys(masks2, recomputed))
    assert first.stat().st_mtime_ns == stamp  # cached, not rewritten

    report, markdown, sheet = build_data_report(
        manifest,
        rejections,
        {"sources": [{"name": "web", "status": "failed", "reason": "web: HTTP 404"}]},
        params,
    )
    assert report["counts"]["good"]["total"] == 6 and report["counts"]["TOTAL"]["total"] == 7
    assert report["rejections_by_reason"]["duplicate_cross_source"] == 2
    assert report["rejections_by_source"]["bad"]["size_mismatch"] == 1
    assert "| good | " in markdown and "web: HTTP 404" in markdown
    assert sheet.size[1] > 0 and sheet.mode == "RGB"
