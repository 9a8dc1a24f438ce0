"""model_training nodes end to end on a tiny manifest: train, resume, export, serve."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from bgbye.models.spec import ModelSpec
from bgbye.remover import Remover
from bgbye.settings import Settings
from bgbye_pipelines.pipelines.model_training.nodes import (
    export_model,
    run_fingerprint,
    train_model,
)
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest

pytestmark = pytest.mark.train


def _params(tmp_path: Path) -> dict[str, Any]:
    return {
        "name": "tiny-unet", "image_size": 32, "sources": None, "general_images": None,
        "limit": {"train": None, "val": None}, "resume": True,
        "model": {"encoder": "efficientnet-lite0", "encoder_weights": "imagenet",
                  "decoder_channels": [16, 16, 8, 8, 8]},
        "loss": {"bce": 1.0, "dice": 1.0, "deep_supervision": True, "served_mae": 0.0},
        "augment": {"enabled": True, "hflip": 0.5},
        "fit": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0, "device": "cpu",
                "progress": False},
        "checkpoint_dir": str(tmp_path / "ckpt"), "output_dir": str(tmp_path / "models"),
        "export": {"opset": 17, "dynamic_size": True, "parity_tolerance": 1e-3,
                   "fp16_copy": True},
        "license": "test",
    }


def test_fingerprint_ignores_run_length_but_not_data_or_model(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "d")
    params = _params(tmp_path)
    longer = copy.deepcopy(params)
    longer["fit"]["epochs"] = 9
    other_model = copy.deepcopy(params)
    other_model["model"]["decoder_channels"] = [8, 8, 8, 8, 8]
    base = run_fingerprint(manifest, params)
    assert run_fingerprint(manifest, longer) == base
    assert run_fingerprint(manifest, other_model) != base
    assert run_fingerprint(manifest.iloc[1:], params) != base


def test_train_export_and_serve(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "d")
    params = _params(tmp_path)
    history, summary, best = train_model(manifest, params)
    assert list(history["epoch"]) == [1]
    assert summary["best_epoch"] == 1 and summary["pairs"] == {"train": 12, "val": 4}
    assert Path(summary["best_checkpoint"]).is_file()

    exported, files = export_model(manifest, summary, best, params)
    assert files["name"] == "tiny-unet"
    assert files["onnx"] == Path(exported["onnx_path"]).read_bytes()
    onnx_path = Path(exported["onnx_path"])
    assert onnx_path.is_file() and exported["parity_max_abs_diff"] < 1e-3
    spec = ModelSpec.load(onnx_path.with_suffix(".json"))
    assert spec.name == "tiny-unet" and spec.input.size == [32, 32]
    assert spec.input.mean == [0.485, 0.456, 0.406] and spec.output.kind == "logits"
    assert spec.training_data["sources"] == ["alpha", "beta"]
    half = Path(exported["fp16"]["onnx_path"])
    assert ModelSpec.load(half.with_suffix(".json")).name == "tiny-unet-fp16"
    assert exported["fp16"]["bytes"] < 0.7 * exported["bytes"]
    assert exported["fp16"]["max_abs_diff_vs_fp32"] < 0.05

    # the registry finds it in its folder by name, the Remover serves it
    settings = Settings(model_dir=tmp_path / "none", extra_model_dirs=[onnx_path.parent],
                        threads=1, storage_dir=tmp_path / "s")
    alpha = Remover.from_model("tiny-unet", settings).remove_array(
        np.zeros((40, 30, 3), np.uint8))
    assert alpha.shape == (40, 30)

    # a second run of the node resumes: nothing left to train, same history
    again, summary2, _ = train_model(manifest, params)
    assert summary2["resumed_from"] == 2 and len(again) == 1


def test_sources_and_general_images_are_checked_with_clear_errors(tmp_path: Path) -> None:
    from bgbye_pipelines.ml.data import DataError

    manifest = write_manifest(tmp_path / "d")
    params = _params(tmp_path)
    with pytest.raises(DataError, match=r"unknown source\(s\) \['gamma'\].*\['alpha', 'beta'\]"):
        train_model(manifest, {**params, "sources": ["gamma"]})
    missing = {"dir": str(tmp_path / "nowhere")}
    with pytest.raises(DataError, match="does not exist"):
        train_model(manifest, {**params, "general_images": missing})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        train_model(manifest, {**params, "general_images": {"dir": str(tmp_path / "empty")}})
    with pytest.raises(DataError, match="unknown source"):
        train_model(manifest, {**params, "general_images": {"sources": ["gamma"]}})
    with pytest.raises(DataError, match="test split"):
        train_model(manifest, {**params, "general_images": {"sources": ["beta"], "split": "test"}})


def test_training_on_one_source_with_the_forgetting_guard(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "d")
    params = {**_params(tmp_path), "sources": ["alpha"],
              "general_images": {"sources": ["beta"], "per_step": 2, "weight": 1.0}}
    history, summary, _ = train_model(manifest, params)
    assert summary["training_sources"] == ["alpha"] and summary["pairs"]["train"] == 6
    assert summary["general_images"]["count"] == 6  # beta's train images, masks unused
    assert summary["images_seen"] == 4 and len(history) == 1
    # the stock model's targets are cached beside the checkpoints; a finished run builds none
    assert (tmp_path / "ckpt" / "tiny-unet" / "guard_targets.pt").is_file()
    again, summary2, _ = train_model(manifest, params)
    assert summary2["general_images"] == summary["general_images"] and len(again) == 1
