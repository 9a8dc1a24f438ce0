"""Runtimes and precisions: the same spec gives the same alpha on ONNX Runtime and OpenVINO,
rembg parity holds on both, reduced precision is an explicit, measured, reported choice."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgbye.engines import EngineCache, OnnxEngine
from bgbye.engines.runtime import cpu_capabilities, openvino_installed, resolve_runtime
from bgbye.engines.variants import LOSSY_MAE, describe, is_lossy, precision_notes
from bgbye.errors import InvalidOptionError, ModelNotAvailableError
from bgbye.imageio import read_rgb
from bgbye.models.spec import ModelSpec
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests.conftest import make_image

needs_openvino = pytest.mark.skipif(not openvino_installed(), reason="bgbye[openvino] absent")


def _engine(settings: Settings, runtime: str, precision: str = "fp32") -> OnnxEngine:
    engine = EngineCache(settings, runtime=runtime, precision=precision).get(None)
    assert isinstance(engine, OnnxEngine)
    return engine


def test_auto_prefers_openvino_when_installed_on_cpu() -> None:
    expected = "openvino" if openvino_installed() else "onnxruntime"
    assert resolve_runtime("auto") == expected
    assert resolve_runtime("onnxruntime") == "onnxruntime"


def test_unknown_runtime_or_precision_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(InvalidOptionError, match="Unknown runtime"):
        EngineCache(settings, runtime="tensorrt")
    with pytest.raises(InvalidOptionError, match="Unknown precision"):
        EngineCache(settings, precision="fp8")
    with pytest.raises(ValueError):
        Settings(runtime="tensorrt")


@needs_openvino
def test_same_spec_same_alpha_on_both_runtimes(settings: Settings) -> None:
    ort_engine, ov_engine = _engine(settings, "onnxruntime"), _engine(settings, "openvino")
    assert (ort_engine.runtime, ov_engine.runtime) == ("onnxruntime", "openvino")
    for seed in range(3):
        rgb = make_image(90, 70, seed=seed)
        a, b = ort_engine.predict(rgb).alpha, ov_engine.predict(rgb).alpha
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert ov_engine.label == ort_engine.label == "tiny (ONNX)"


@needs_openvino
def test_openvino_requests_run_side_by_side(settings: Settings) -> None:
    """Concurrent callers each borrow their own infer request: outputs never get mixed."""
    from concurrent.futures import ThreadPoolExecutor

    engine = EngineCache(settings, threads=1, runtime="openvino").get(None)
    images = [make_image(64, 64, seed=s) for s in range(8)]
    alone = [engine.predict(rgb).alpha for rgb in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda rgb: engine.predict(rgb).alpha, images))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))


def test_bf16_on_onnxruntime_falls_back_to_fp32_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bgbye.engines.runtime"):
        engine = _engine(settings, "onnxruntime", "bf16")
    assert engine.precision == "fp32" and engine.label == "tiny (ONNX)"
    assert "running fp32" in caplog.text


@needs_openvino
def test_bf16_is_labelled_and_close(settings: Settings) -> None:
    engine = _engine(settings, "openvino", "bf16")
    if "BF16" not in cpu_capabilities():
        assert engine.precision == "fp32"  # fell back, with a warning
        return
    assert engine.precision == "bf16" and engine.label == "tiny (ONNX, bf16)"
    rgb = make_image(80, 60)
    ref = _engine(settings, "openvino").predict(rgb).alpha.astype(int)
    assert np.abs(engine.predict(rgb).alpha.astype(int) - ref).mean() < 2


def test_int8_without_a_variant_says_how_to_make_one(settings: Settings) -> None:
    with pytest.raises(ModelNotAvailableError, match="models quantize tiny"):
        _engine(settings, "onnxruntime", "int8")


def test_lossy_label() -> None:
    assert not is_lossy(None) and not is_lossy({"mae_delta": LOSSY_MAE})
    assert is_lossy({"mae_delta": LOSSY_MAE + 1e-4})
    assert "lossy" in describe({"mae_delta": 0.03, "iou_delta": -0.07})
    spec = ModelSpec(name="m", metrics={"precision": {"bf16": {"mae_delta": 0.0001}}})
    assert precision_notes(spec) == {"bf16": "+0.0001 MAE, +0.000 IoU"}
    variant = ModelSpec.model_validate(
        {
            "name": "m-int8",
            "variant_of": "m",
            "precision": "int8",
            "metrics": {"vs_fp32": {"mae_delta": 0.03, "iou_delta": -0.07}},
        }
    )
    assert precision_notes(variant)["int8"].startswith("variant of m: +0.0300 MAE")
    assert "lossy" in precision_notes(variant)["int8"]


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_alpha_matches_rembg_on_both_runtimes(
    runtime: str, u2netp_settings: Settings, u2netp_path: Path, real_data: Path
) -> None:
    """tests/test_rembg_parity.py's check, on each runtime."""
    if runtime == "openvino" and not openvino_installed():
        pytest.skip("bgbye[openvino] absent")
    os.environ["U2NET_HOME"] = str(u2netp_path.parent)
    rembg = pytest.importorskip("rembg")
    session = rembg.new_session("u2netp")
    remover = Remover.from_model("u2netp", u2netp_settings, runtime=runtime)
    assert getattr(remover.engine, "runtime", None) == runtime
    for source in ("weizmann_horse", "ccp_person", "coco_mval", "rembg_fixtures"):
        path = sorted((real_data / source / "images").iterdir())[0]
        ours = remover.remove_array(read_rgb(str(path))).astype(int)
        theirs = np.asarray(rembg.remove(Image.open(path), session=session, only_mask=True))
        diff = np.abs(ours - theirs.astype(int))
        assert diff.mean() < 0.5 and (diff > 2).mean() < 0.001, (path.name, diff.mean())


def _test_split(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` test-split pairs, loaded as bench/precision.py loads them."""
    pytest.importorskip("pandas")
    from bench._split import pairs
    from bench.precision import load_pair

    return [load_pair(image, mask) for image, mask in pairs("test")[:count]]


def _mae_iou(engine: OnnxEngine, data: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    pytest.importorskip("py_sod_metrics")
    from bgbye_pipelines.pipelines.model_evaluation.scoring import GroupScores

    group = GroupScores()
    for rgb, gt in data:
        group.step(engine.predict(rgb).alpha, gt, soft=False)
    return group.results()


@pytest.mark.slow
@needs_openvino
def test_bf16_quality_delta_on_the_test_split(u2netp_settings: Settings, real_data: Path) -> None:
    """bf16 is documented as not lossy (<= 0.002 MAE against fp32): check it on held-out
    photos (bench/precision.py measures the whole split)."""
    if "BF16" not in cpu_capabilities():
        pytest.skip("no native bf16 on this CPU (it falls back to fp32)")
    data = _test_split(24)
    fp32 = _mae_iou(_engine(u2netp_settings, "openvino"), data)
    bf16 = _mae_iou(_engine(u2netp_settings, "openvino", "bf16"), data)
    assert abs(bf16["mae"] - fp32["mae"]) <= LOSSY_MAE, (fp32, bf16)
    assert abs(bf16["iou"] - fp32["iou"]) <= 0.01, (fp32, bf16)


@pytest.mark.slow
def test_int8_variant_is_written_measured_and_served(
    u2netp_settings: Settings, real_data: Path, tmp_path: Path
) -> None:
    """`bgbye models quantize` on a few training images, the variant served by
    `--precision int8`, its measured delta recorded: `bgbye models list` says if it is lossy."""
    pytest.importorskip("onnx")
    from bgbye.engines.quantize import record_quality
    from tests.test_cli import _run

    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for src in sorted((real_data / "coco_mval" / "images").iterdir())[-4:]:
        shutil.copy(src, calibration / src.name)
    done = _run(
        ["models", "quantize", "u2netp", "--calibration", str(calibration)], u2netp_settings
    )
    assert done.returncode == 0, done.stderr.decode()
    path = u2netp_settings.model_dir / "u2netp-int8.onnx"
    assert path.is_file() and path.with_suffix(".json").is_file()
    engine = _engine(u2netp_settings, "auto", "int8")
    assert engine.path == path and engine.label == "u2netp-int8 (ONNX, int8)"
    data = _test_split(8)
    fp32, int8 = _mae_iou(_engine(u2netp_settings, "auto"), data), _mae_iou(engine, data)
    assert int8["mae"] < 0.5 and int8["iou"] > 0.3  # a real mask, not noise or a constant
    delta = {"mae_delta": int8["mae"] - fp32["mae"], "iou_delta": int8["iou"] - fp32["iou"]}
    recorded = record_quality(path.with_suffix(".json"), delta)
    note = precision_notes(recorded)["int8"]
    assert ("lossy" in note) == (delta["mae_delta"] > LOSSY_MAE), note
    listed = _run(["models", "list"], u2netp_settings).stdout.decode()
    assert f"int8: {note}" in listed
    out = tmp_path / "out.png"
    photo = sorted((real_data / "weizmann_horse" / "images").iterdir())[0]
    removed = _run(
        ["remove", str(photo), "-o", str(out), "--precision", "int8", "--model", "u2netp"],
        u2netp_settings,
    )
    assert removed.returncode == 0 and "u2netp-int8 (ONNX, int8)" in removed.stderr.decode()


def test_dynamic_batch_copy_runs_many_images_in_one_call(
    settings: Settings, tiny_model_dir: Path
) -> None:
    """The GPU path: a fixed-batch graph made dynamic gives the same alphas batched."""
    pytest.importorskip("onnx")
    import onnx

    from bgbye.engines.batching import with_dynamic_batch

    # Freeze the tiny model's batch at 1, as rembg's exports are.
    fixed = tiny_model_dir / "fixed.onnx"
    model = onnx.load(str(tiny_model_dir / "tiny.onnx"))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(fixed))
    spec = ModelSpec.load(tiny_model_dir / "tiny.json")
    assert with_dynamic_batch(fixed, tiny_model_dir / "tiny-batch.onnx", spec)
    engine = EngineCache(settings, runtime="onnxruntime").get("tiny-batch")
    assert isinstance(engine, OnnxEngine) and engine.batchable
    images = [make_image(70, 50, seed=s) for s in range(3)]
    batched = [p.alpha for p in engine.predict_batch(images)]
    single = [engine.predict(rgb).alpha for rgb in images]
    assert all(np.array_equal(a, b) for a, b in zip(batched, single, strict=True))
