"""model_evaluation nodes with the tiny ONNX model from tests/model_fixtures.py (no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bgbye.cli_models import _test_line
from bgbye.errors import BgbyeError
from bgbye.models.registry import Registry
from bgbye.models.spec import ModelSpec
from bgbye_pipelines.pipelines.model_evaluation import matting
from bgbye_pipelines.pipelines.model_evaluation.nodes import (
    evaluate_models,
    make_settings,
    plot_training_curves,
    render_previews,
    write_report,
)
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest
from tests.model_fixtures import write_tiny_model


@pytest.fixture
def setup(tmp_path: Path) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    manifest = write_manifest(tmp_path / "data")
    onnx_path = write_tiny_model(tmp_path / "models", name="mine")
    exported = {"name": "mine", "onnx_path": str(onnx_path),
                "spec_path": str(onnx_path.with_suffix(".json")), "bytes": onnx_path.stat().st_size,
                "parity_max_abs_diff": 0.0, "training_sources": ["alpha"]}
    params = {"split": "test", "baselines": ["heuristic", "no-such-model"], "limit": None,
              "reference": "heuristic",
              "model_dir": str(tmp_path / "empty"), "threads": 1, "preview_per_source": 1,
              "preview_height": 48, "worst_cases": 2}
    return manifest, exported, params


def test_scores_trained_model_and_baselines_per_source(setup) -> None:
    manifest, exported, params = setup
    metrics, scores = evaluate_models(manifest, exported, params)
    assert list(metrics["models"]) == ["mine", "heuristic"]
    assert "no-such-model" in metrics["skipped"]
    mine = metrics["models"]["mine"]
    assert mine["trained"] and mine["overall"]["n"] == 4
    assert set(mine["per_source"]) == {"alpha", "beta"}
    for key in ("mae", "max_fbeta", "s_measure", "e_measure", "iou"):
        assert 0.0 <= mine["overall"][key] <= 1.0
    # soft ground truth (source beta) adds the matting errors, binary does not
    assert "sad" in mine["per_source"]["beta"] and "sad" not in mine["per_source"]["alpha"]
    cmp_ = metrics["comparison"]
    assert cmp_["available"]
    assert cmp_["beats_reference"] == (cmp_["trained_mae"] < cmp_["reference_mae"])
    assert len(scores) == 8 and set(scores["model"]) == {"mine", "heuristic"}
    # every source says whether the run trained on it (leave-one-source-out rows)
    domains = metrics["domains"]
    assert domains["alpha"]["trained_on"] and not domains["beta"]["trained_on"]
    assert np.isclose(domains["beta"]["change"],
                      mine["per_source"]["beta"]["mae"] / metrics["models"]["heuristic"][
                          "per_source"]["beta"]["mae"] - 1)
    # the per-image MAE agrees with the table's mean
    assert np.isclose(scores[scores["model"] == "mine"]["mae"].mean(), mine["overall"]["mae"])


def test_test_metrics_go_into_the_published_spec(setup) -> None:
    """metrics.test of <name>.json holds the node's own scores; every other field is kept."""
    manifest, exported, params = setup
    spec_path = Path(exported["spec_path"])
    before = ModelSpec.load(spec_path)
    before.metrics = {"validation": {"val_mae": 0.1}, "best_epoch": 3}
    before.dump(spec_path)
    before_json = json.loads(spec_path.read_text())
    metrics, _ = evaluate_models(manifest, exported, params)
    after_json = json.loads(spec_path.read_text())
    test = after_json["metrics"].pop("test")
    assert after_json == before_json  # validation metrics and every other field unchanged
    mine = metrics["models"]["mine"]
    assert test["split"] == "test" and test["n"] == 4 and test["reference"] == "heuristic"
    assert test["overall"] == mine["overall"]
    assert set(test["per_source"]) == {"alpha", "beta"}
    for source, row in test["per_source"].items():
        for key in ("n", "mae", "max_fbeta", "s_measure", "e_measure", "iou"):
            assert row[key] == mine["per_source"][source][key]
        assert row["trained_on"] == metrics["domains"][source]["trained_on"]
        assert row["reference_mae"] == metrics["domains"][source]["reference_mae"]
    per_source = test["per_source"]
    assert per_source["alpha"]["trained_on"] and not per_source["beta"]["trained_on"]
    served = ModelSpec.load(spec_path)  # still a valid spec, as bgbye reads it
    assert served.metrics["test"]["overall"]["mae"] == mine["overall"]["mae"]
    assert not list(spec_path.parent.glob("*.part"))
    registry = Registry(make_settings(params, exported))  # what models list / /v1/models show
    assert registry.describe("mine", registry.entries()["mine"])["test_metrics"] == test
    line = _test_line(test)  # the line under the model in `bgbye models list`
    assert f"alpha {test['per_source']['alpha']['mae']:.4f}," in line
    assert f"beta {test['per_source']['beta']['mae']:.4f} (held out)" in line
    # a second evaluation replaces metrics.test, nothing else
    evaluate_models(manifest, exported, {**params, "baselines": []})
    again = json.loads(spec_path.read_text())
    assert "reference_mae" not in again["metrics"]["test"]["per_source"]["alpha"]
    assert again["metrics"]["validation"] == {"val_mae": 0.1}
    # scoring the val split (to choose a setting) is kept apart and never poses as test
    evaluate_models(manifest, exported, {**params, "split": "val", "baselines": []})
    scored = json.loads(spec_path.read_text())["metrics"]
    assert scored["val_split"]["split"] == "val" and scored["test"] == again["metrics"]["test"]


def test_previews_and_report(setup) -> None:
    manifest, exported, params = setup
    metrics, scores = evaluate_models(manifest, exported, params)
    preview, worst = render_previews(manifest, exported, scores, params)
    assert preview.height > 2 * 48 and preview.width > 3 * 48  # 2 rows (one per source), 3 panels
    assert worst.width > preview.width  # 4 panels
    history = pd.DataFrame([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_mae": 0.2,
                             "val_iou": 0.5, "lr": 1e-3, "images_per_s": 3.0}])
    fig = plot_training_curves(history)
    assert len(fig.axes) >= 3
    calibrated = plot_training_curves(history.assign(val_mae_raw=0.25))
    labels = [line.get_label() for line in calibrated.axes[1].get_lines()]
    assert labels == ["val MAE (calibrated)", "val MAE, uncalibrated"]
    summary = {"init": "x", "parameters_m": 1.0, "image_size": 64, "device": "cpu",
               "epochs_run": 1, "stop_reason": "epochs", "best_epoch": 1, "train_seconds": 6,
               "pairs": {"train": 12, "val": 4}}
    report = write_report(metrics, summary, history, exported)
    assert "| **mine** (trained) |" in report and "### beta" in report
    assert "qualitative_preview.png" in report and "SAD" in report
    assert "| beta | *held out* |" in report and "| alpha | trained on |" in report


def test_empty_test_split_is_a_clear_error(setup) -> None:
    manifest, exported, params = setup
    with pytest.raises(BgbyeError, match="no 'test' rows"):
        evaluate_models(manifest[manifest["split"] != "test"], exported, params)


def test_matting_errors_are_zero_for_a_perfect_prediction_and_grow_with_error() -> None:
    yy, xx = np.mgrid[:40, :40]
    gt = np.clip(255 - np.hypot(xx - 20, yy - 20) * 12, 0, 255).astype(np.uint8)
    perfect = matting.matting_errors(gt, gt)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in perfect.values())
    worse = matting.matting_errors(np.zeros_like(gt), gt)
    assert all(v > 0 for v in worse.values())
    slightly = matting.matting_errors(np.clip(gt.astype(int) + 10, 0, 255).astype(np.uint8), gt)
    assert slightly["sad"] < worse["sad"] and slightly["mse"] < worse["mse"]


def test_evaluation_settings_ignore_the_environment(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores must not change with BGBYE_* variables: only the model folder may come from them."""
    from bgbye.settings import Settings
    from bgbye_pipelines.pipelines.model_evaluation.nodes import make_settings

    monkeypatch.setenv("BGBYE_PRECISION", "bf16")
    monkeypatch.setenv("BGBYE_MAX_PIXELS", "10")
    monkeypatch.setenv("BGBYE_MODEL_DIR", str(tmp_path / "env-models"))
    exported = {"onnx_path": str(tmp_path / "trained" / "m.onnx")}
    settings = make_settings({"model_dir": None, "threads": 1}, exported)
    assert settings.precision == "fp32"
    assert settings.max_pixels == Settings.defaults().max_pixels
    assert settings.model_dir == tmp_path / "env-models"
    assert settings.extra_model_dirs == [tmp_path / "trained"]
    assert settings.pushgateway_url is None
    pinned = make_settings({"model_dir": str(tmp_path / "conf"), "threads": None}, exported)
    assert pinned.model_dir == tmp_path / "conf"
