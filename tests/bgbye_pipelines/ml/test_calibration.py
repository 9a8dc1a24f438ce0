"""Output calibration: the fitted pair lowers the served MAE, recovers a known pair, is the
identity when nothing beats it, reaches the loss, and the export serves it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bgbye_pipelines.ml.calibration import fit_calibration  # noqa: E402
from bgbye_pipelines.ml.data import AugmentConfig, Normalization, build_datasets  # noqa: E402
from bgbye_pipelines.ml.export import export_onnx  # noqa: E402
from bgbye_pipelines.ml.fit import FitConfig, fit, row_calibration  # noqa: E402
from bgbye_pipelines.ml.losses import build_loss  # noqa: E402
from bgbye_pipelines.ml.model import build_model  # noqa: E402
from bgbye_pipelines.ml.served import IDENTITY, Calibration, ServingHead, served_alpha  # noqa: E402
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest  # noqa: E402

pytestmark = pytest.mark.train


def served_mae(logits: torch.Tensor, targets: torch.Tensor, normalize: str,
               calibration: Calibration = IDENTITY) -> torch.Tensor:
    """Per-image MAE of the served alpha (what the fit minimises)."""
    return (served_alpha(logits, normalize, calibration) - targets).abs().flatten(1).mean(1)


def _logits(n: int = 6, side: int = 24, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, side, side, generator=gen) * 3


def test_recovers_a_known_calibration_of_the_served_alpha() -> None:
    z = _logits()
    truth = Calibration(2.0, -1.0)
    targets = served_alpha(z, "minmax", truth)
    found = fit_calibration(z, targets, "minmax")
    assert found.scale == pytest.approx(2.0, rel=0.1)
    assert found.shift == pytest.approx(-1.0, abs=0.3)
    assert served_mae(z, targets, "minmax", found).mean() < 0.2 * served_mae(
        z, targets, "minmax").mean()


def test_is_the_identity_when_the_logits_are_already_right() -> None:
    z = _logits(seed=1)
    assert fit_calibration(z, served_alpha(z, "minmax"), "minmax") == IDENTITY
    assert fit_calibration(z, torch.sigmoid(z), "none") == IDENTITY


def test_sharpens_a_hazy_background_as_min_max_serves_it() -> None:
    # a subject (logit +4) on a background whose logits sit at -1..0: served grey after min-max
    gen = torch.Generator().manual_seed(2)
    z = -torch.rand(4, 1, 32, 32, generator=gen)
    y = torch.zeros_like(z)
    z[..., 8:24, 8:24], y[..., 8:24, 8:24] = 4.0, 1.0
    found = fit_calibration(z, y, "minmax")
    assert not found.identity and found.scale > 1.0
    assert served_mae(z, y, "minmax", found).mean() < 0.5 * served_mae(z, y, "minmax").mean()


def test_the_loss_served_term_follows_the_calibration_unless_told_not_to() -> None:
    z = _logits(n=2, seed=3)
    y = (z > 1).float()
    loss = build_loss({"bce": 0.0, "served_mae": 1.0}, "minmax")
    plain = float(loss(z, y))
    loss.calibration = Calibration(4.0, -3.0)
    assert float(loss(z, y)) == pytest.approx(
        float(served_mae(z, y, "minmax", loss.calibration).mean()), rel=1e-5)
    assert float(loss(z, y)) != pytest.approx(plain)
    raw = build_loss({"bce": 0.0, "served_mae": 1.0, "served_calibrated": False}, "minmax")
    raw.calibration = Calibration(4.0, -3.0)
    assert float(raw(z, y)) == pytest.approx(plain)


def test_fit_with_calibrate_reports_and_keeps_the_calibrated_score(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "data")
    train, val = build_datasets(manifest, 32, AugmentConfig(), Normalization())
    torch.manual_seed(0)
    model = build_model({"encoder": "efficientnet-lite0", "encoder_weights": None,
                         "decoder_channels": [16, 16, 8, 8, 8]}).module
    cfg = FitConfig(epochs=1, batch_size=4, lr=1e-3, warmup_epochs=0, progress=False,
                    device="cpu", validate_start=True, calibrate=True)
    loss = build_loss({"bce": 1.0, "served_mae": 1.0})
    result = fit(model, loss, train, val, cfg, tmp_path / "ckpt", fingerprint="c", name="t")
    for row in result.history:
        assert {"val_mae_raw", "calib_scale", "calib_shift"} <= set(row)
        assert row["val_mae"] <= row["val_mae_raw"] + 1e-6  # identity is always a candidate
    assert loss.calibration == row_calibration(result.history[-1])
    assert row_calibration(None) == IDENTITY and row_calibration({"val_mae": 0.1}) == IDENTITY


def test_the_export_serves_the_calibrated_probability(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    net = build_model({"encoder": "efficientnet-lite0", "encoder_weights": None,
                       "decoder_channels": [16, 16, 8, 8, 8]}).module.eval()
    calibration = Calibration(2.5, -2.0)
    x = torch.randn(2, 3, 64, 64)
    for cal, path in ((calibration, tmp_path / "c.onnx"), (IDENTITY, tmp_path / "i.onnx")):
        export_onnx(ServingHead(net, "prob", cal), path, 64)
        got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            want = torch.sigmoid(net(x) * cal.scale + cal.shift).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)
    calibrated, identity = (Counter(n.op_type for n in onnx.load(str(p)).graph.node)
                            for p in (tmp_path / "c.onnx", tmp_path / "i.onnx"))
    added = calibrated - identity
    assert added["Mul"] == 1 and added["Add"] == 1  # scale and shift; the identity adds none
    assert not identity - calibrated
