"""Zero-step parity: u2netp fine-tuned for zero steps, exported and scored as served, IS u2netp.

This pins everything between training and serving (decoding, Lanczos resize, /max and ImageNet
normalisation, output selection, sigmoid and min-max), so any later gain is the training's.
The parameters are conf/shared_u2netp's own, so the shipped recipe is what is checked.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from bgbye import imageio
from bgbye.engines import EngineCache
from bgbye.models.spec import ModelSpec
from bgbye.remover import Remover
from bgbye_pipelines.pipelines.model_evaluation.nodes import evaluate_models, make_settings
from bgbye_pipelines.pipelines.model_training.nodes import export_model, train_model
from tests.bgbye_pipelines.conf_fixtures import env_parameters
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest

pytestmark = pytest.mark.train


def _params(tmp_path: Path, u2netp_path: Path) -> dict[str, Any]:
    params = copy.deepcopy(env_parameters("shared_u2netp")["model_training"])
    params.update(name="u2netp-ft0", sources=None, general_images=None,
                  checkpoint_dir=str(tmp_path / "ckpt"), output_dir=str(tmp_path / "models"))
    params["model"]["u2netp_path"] = str(u2netp_path)
    # calibrate off: the option off must serve stock exactly (with it on, zero steps serve
    # "stock + calibration", a row of its own in docs/training.md)
    params["fit"].update(epochs=0, progress=False, threads=None, calibrate=False)
    return params


def test_zero_steps_export_serves_stock_u2netp(tmp_path: Path, u2netp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "d", size=(150, 110))
    params = _params(tmp_path, u2netp_path)
    _, summary, best = train_model(manifest, params)
    assert summary["epochs_run"] == 0 and summary["images_seen"] == 0
    exported, _ = export_model(manifest, summary, best, params)

    spec = ModelSpec.load(Path(exported["spec_path"]))
    stock = ModelSpec.load(Path(__file__).parents[4] / "src/bgbye/models/specs/u2netp.json")
    assert spec.input.resample == stock.input.resample == "lanczos"
    assert spec.input.model_dump(exclude={"dynamic_batch"}) == stock.input.model_dump(
        exclude={"dynamic_batch"})
    assert spec.output == stock.output  # sigmoid probability of d0, min-max normalised

    models = tmp_path / "stock"
    models.mkdir()
    (models / "u2netp.onnx").symlink_to(u2netp_path)
    eval_params = {**env_parameters("shared_u2netp")["model_evaluation"],
                   "baselines": ["u2netp"], "model_dir": str(models), "threads": 1}
    metrics, _ = evaluate_models(manifest, exported, eval_params)
    ours, theirs = metrics["models"]["u2netp-ft0"], metrics["models"]["u2netp"]
    for group in ("overall", "per_source"):
        flat_ours, flat_theirs = _flat(ours[group]), _flat(theirs[group])
        assert flat_ours.keys() == flat_theirs.keys()
        for key, value in flat_ours.items():
            assert round(value, 3) == round(flat_theirs[key], 3), key

    settings = make_settings(eval_params, exported)
    cache = EngineCache(settings)
    trained, reference = (Remover(cache.get(ref), settings)
                          for ref in (exported["onnx_path"], "u2netp"))
    for path in manifest[manifest["split"] == "test"]["image_path"]:
        rgb = imageio.read_rgb(str(path))
        delta = np.abs(trained.remove_array(rgb).astype(int) - reference.remove_array(rgb))
        assert delta.mean() < 0.5, path  # mean |Δα| < 0.5/255


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)):
            out[f"{prefix}{key}"] = float(value)
    return out


def test_zero_steps_with_calibration_serve_stock_plus_calibration(tmp_path: Path,
                                                                   u2netp_path: Path) -> None:
    """With ``fit.calibrate`` on, zero steps export stock + the fitted calibration (the row
    fine-tuning must beat); a blend with stock refits it, and for unchanged weights it is the
    same pair."""
    manifest = write_manifest(tmp_path / "d", size=(150, 110))
    params = _params(tmp_path, u2netp_path)
    params["fit"]["calibrate"] = True
    _, summary, best = train_model(manifest, params)
    calibration = summary["calibration"]
    assert calibration != {"scale": 1.0, "shift": 0.0}  # the generated masks want sharpening
    assert summary["val_metrics"]["val_mae"] < summary["val_metrics"]["val_mae_raw"]
    params["export"]["blend_with_start"] = 0.5  # 0.5 x stock + 0.5 x stock: the same weights
    exported, _ = export_model(manifest, summary, best, params)
    metrics = ModelSpec.load(Path(exported["spec_path"])).metrics
    assert metrics["calibration"] == calibration
    assert metrics["validation_blended"]["val_mae"] == pytest.approx(
        summary["val_metrics"]["val_mae"], abs=1e-5)
