"""Fit loop (checkpoints, resume, early stop, events) and ONNX export parity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bgbye.models.spec import ModelSpec  # noqa: E402
from bgbye.remover import Remover  # noqa: E402
from bgbye.settings import Settings  # noqa: E402
from bgbye_pipelines.ml import events  # noqa: E402
from bgbye_pipelines.ml.data import AugmentConfig, Normalization, build_datasets  # noqa: E402
from bgbye_pipelines.ml.export import (  # noqa: E402
    build_spec,
    check_parity,
    compress_fp16_weights,
    export_onnx,
    ort_diff,
)
from bgbye_pipelines.ml.fit import BEST, LAST, FitConfig, fit, param_groups  # noqa: E402
from bgbye_pipelines.ml.losses import build_loss  # noqa: E402
from bgbye_pipelines.ml.model import build_model  # noqa: E402
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest  # noqa: E402

pytestmark = pytest.mark.train
TINY = {"encoder": "efficientnet-lite0", "decoder_channels": [16, 16, 8, 8, 8]}


def _setup(tmp_path: Path) -> tuple[Any, Any, Any]:
    manifest = write_manifest(tmp_path / "data")
    train, val = build_datasets(manifest, 32, AugmentConfig(), Normalization())
    return manifest, train, val


def _fit(tmp_path: Path, train: Any, val: Any, epochs: int, fingerprint: str = "f1", **kw: Any):
    torch.manual_seed(0)
    model = build_model(TINY).module
    cfg = FitConfig(epochs=epochs, batch_size=4, lr=1e-3, warmup_epochs=0, progress=False,
                    device="cpu", **kw)
    return fit(model, build_loss(), train, val, cfg, tmp_path / "ckpt", fingerprint=fingerprint,
               name="t")


def test_fit_checkpoints_every_epoch_emits_events_and_resumes(tmp_path: Path) -> None:
    _, train, val = _setup(tmp_path)
    seen: list[dict[str, Any]] = []
    events.subscribe(seen.append)
    try:
        first = _fit(tmp_path, train, val, epochs=1)
    finally:
        events.unsubscribe(seen.append)
    assert (tmp_path / "ckpt" / LAST).is_file() and (tmp_path / "ckpt" / BEST).is_file()
    assert [e["epoch"] for e in seen] == [1]
    assert {"train_loss", "val_loss", "val_mae", "val_iou", "lr", "images_per_s"} <= set(seen[0])
    assert first.resumed_from is None and len(first.history) == 1

    more = _fit(tmp_path, train, val, epochs=2)  # raising epochs extends the finished run
    assert more.resumed_from == 2
    assert [row["epoch"] for row in more.history] == [1, 2]
    again = _fit(tmp_path, train, val, epochs=2)  # nothing left to do
    assert again.resumed_from == 3 and len(again.history) == 2

    other = _fit(tmp_path, train, val, epochs=1, fingerprint="other-config")
    assert other.resumed_from is None  # a different run never resumes a stranger's checkpoint


def test_early_stopping_stops_and_stays_stopped(tmp_path: Path) -> None:
    _, train, val = _setup(tmp_path)
    # min_delta this large means no epoch after the first counts as an improvement
    result = _fit(tmp_path, train, val, epochs=6, patience=1, min_delta=10.0)
    assert result.stop_reason == "early_stopping" and len(result.history) == 2
    again = _fit(tmp_path, train, val, epochs=6, patience=1, min_delta=10.0)
    assert again.stop_reason == "early_stopping" and len(again.history) == 2


def test_a_time_budget_stop_stays_stopped_until_the_budget_is_raised(tmp_path: Path) -> None:
    _, train, val = _setup(tmp_path)
    tiny = 1e-6  # minutes: the budget is spent after the first epoch
    result = _fit(tmp_path, train, val, epochs=3, max_minutes=tiny)
    assert result.stop_reason == "time_budget" and len(result.history) == 1
    again = _fit(tmp_path, train, val, epochs=3, max_minutes=tiny)
    assert len(again.history) == 1  # nothing new to do
    longer = _fit(tmp_path, train, val, epochs=3, max_minutes=1000.0)
    assert [r["epoch"] for r in longer.history] == [1, 2, 3] and longer.resumed_from == 2


class _Counting(torch.utils.data.Dataset):
    def __init__(self, inner: Any) -> None:
        self.inner, self.indices = inner, []

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> Any:
        self.indices.append(i)
        return self.inner[i]


def test_samples_per_epoch_draws_a_random_subset_each_epoch(tmp_path: Path) -> None:
    _, train, val = _setup(tmp_path)
    counting = _Counting(train)
    assert len(counting) > 4
    _fit(tmp_path, counting, val, epochs=2, samples_per_epoch=4)
    first, second = counting.indices[:4], counting.indices[4:]
    assert len(first) == len(second) == 4  # 4 pairs an epoch, not the whole split
    assert len(set(first)) == 4 and first != second  # without replacement, reshuffled


def test_no_decay_on_biases_and_norms_when_asked() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    assert len(param_groups(model, FitConfig())) == 1
    decayed, plain = param_groups(model, FitConfig(decay_bias_and_norm=False))
    assert [p.ndim for p in decayed["params"]] == [4]
    assert len(plain["params"]) == 3 and plain["weight_decay"] == 0.0


def test_export_parity_dynamic_batch_and_size_and_serving(tmp_path: Path) -> None:
    built = build_model(TINY)
    path = tmp_path / "models" / "mine.onnx"
    export_onnx(built.module, path, 64, dynamic_size=True)
    diff = check_parity(built.module, path, [64, 96], tolerance=1e-4)
    assert diff < 1e-4
    spec = build_spec(name="mine", size=64, built=built, dynamic_batch=True, description="t",
                      license="test", source="test", training_data={"pairs": 1}, metrics={},
                      extra={})
    spec.dump(path.with_suffix(".json"))
    loaded = ModelSpec.load(path.with_suffix(".json"))
    assert loaded.output.kind == "logits" and loaded.output.normalize == "none"
    assert loaded.input.resample == "bilinear" and loaded.input.scale == "unit"
    # what training exported is what bgbye serves, by path
    settings = Settings(model_dir=tmp_path / "none", extra_model_dirs=[], threads=1,
                        storage_dir=tmp_path / "s")
    rgb = np.zeros((50, 70, 3), np.uint8)
    alpha = Remover.from_model(str(path), settings).remove_array(rgb)
    assert alpha.shape == (50, 70) and alpha.dtype == np.uint8

    half = path.with_name("mine-fp16.onnx")
    compress_fp16_weights(path, half)
    assert half.stat().st_size < 0.7 * path.stat().st_size
    assert ort_diff(path, half, 64) < 0.05  # float16 weights, float32 compute


_KILL_SCRIPT = """
import sys, torch
from pathlib import Path
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest
from bgbye_pipelines.ml.data import AugmentConfig, Normalization, build_datasets
from bgbye_pipelines.ml.fit import FitConfig, fit
from bgbye_pipelines.ml.losses import build_loss
from bgbye_pipelines.ml.model import build_model
tmp = Path(sys.argv[1])
manifest = write_manifest(tmp / "data")
train, val = build_datasets(manifest, 32, AugmentConfig(), Normalization())
torch.manual_seed(0)
model = build_model({"encoder": "efficientnet-lite0",
                     "decoder_channels": [16, 16, 8, 8, 8]}).module
cfg = FitConfig(epochs=int(sys.argv[2]), batch_size=4, warmup_epochs=0, progress=False,
                device="cpu")
r = fit(model, build_loss(), train, val, cfg, tmp / "ckpt", fingerprint="kill", name="k")
print("RESUMED_FROM", r.resumed_from, "EPOCHS", len(r.history))
"""


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path), "50"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    last = tmp_path / "ckpt" / LAST
    deadline = time.monotonic() + 600
    while not last.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up, as with a real kill
    proc.wait()
    assert last.is_file(), "no checkpoint was written before the kill"
    done = torch.load(last, weights_only=False)["epoch"]
    out = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(tmp_path), str(done + 1)],
                         cwd=root, env=env, capture_output=True, text=True, timeout=900,
                         check=True)
    assert f"RESUMED_FROM {done + 1} EPOCHS {done + 1}" in out.stdout


def test_blend_with_start_interpolates_float_weights_and_refuses_random_starts() -> None:
    from bgbye_pipelines.ml.export import blend_with_start
    from bgbye_pipelines.ml.model import U2NETP, BuiltModel, ModelBuildError

    start = torch.nn.Linear(3, 2)
    tuned = {k: v + 1.0 for k, v in start.state_dict().items()}
    built = BuiltModel(module=start, encoder=U2NETP, init="u2netp")
    for weight in (0.0, 0.25, 1.0):
        blended = blend_with_start(tuned, built, weight)
        for k, v in start.state_dict().items():
            assert torch.allclose(blended[k], v + weight)
    with pytest.raises(ModelBuildError, match=r"\[0, 1\]"):
        blend_with_start(tuned, built, 1.5)
    with pytest.raises(ModelBuildError, match="random decoder"):
        blend_with_start(tuned, BuiltModel(module=start, encoder="resnet50", init="x"), 0.5)


def test_ema_weights_are_validated_kept_as_best_and_resumed(tmp_path: Path) -> None:
    _, train, val = _setup(tmp_path)
    result = _fit(tmp_path, train, val, epochs=1, ema=0.5, patience=100)
    last = torch.load(tmp_path / "ckpt" / LAST, weights_only=False)
    best = torch.load(result.best_path, weights_only=True)["model"]
    ema = {k.removeprefix("module."): v for k, v in last["ema"].items() if k != "n_averaged"}
    raw = last["model"]
    # the EMA lags the raw weights; what is kept as best (epoch 1 or the start) is never raw
    assert any(not torch.equal(ema[k], raw[k]) for k in raw)
    if result.best_epoch == 1:
        assert all(torch.equal(best[k], ema[k]) for k in best)
    more = _fit(tmp_path, train, val, epochs=2, ema=0.5, patience=100)
    assert more.resumed_from == 2
    resumed = torch.load(tmp_path / "ckpt" / LAST, weights_only=False)["ema"]
    assert int(resumed["n_averaged"]) == 2 * int(last["ema"]["n_averaged"])


def test_a_run_that_never_beats_its_start_keeps_the_start_as_best(tmp_path: Path) -> None:
    _, train, val = _setup(tmp_path)
    torch.manual_seed(0)
    model = build_model(TINY).module
    start = {k: v.clone() for k, v in model.state_dict().items()}
    # min_delta: no epoch can count as an improvement, so the start stays the best
    cfg = FitConfig(epochs=1, batch_size=4, lr=1e-2, warmup_epochs=0, progress=False,
                    device="cpu", validate_start=True, min_delta=1e9)
    result = fit(model, build_loss(), train, val, cfg, tmp_path / "ckpt", fingerprint="f",
                 name="t")
    assert result.best_epoch == 0 and len(result.history) == 2
    best = torch.load(result.best_path, weights_only=True)["model"]
    assert all(torch.equal(best[k], start[k]) for k in start)
    assert any(not torch.equal(model.state_dict()[k], start[k]) for k in start)


def test_checkpoints_are_written_atomically_with_the_usual_mode(tmp_path: Path) -> None:
    from bgbye_pipelines.ml.fit import atomic_torch_save

    old = os.umask(0o022)
    try:
        atomic_torch_save({"w": torch.ones(3)}, tmp_path / "c" / "best.pt")
    finally:
        os.umask(old)
    path = tmp_path / "c" / "best.pt"
    assert (path.stat().st_mode & 0o777) == 0o644  # not mkstemp's private 0600
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temp file left
