"""ONNX export with dynamic batch (and size where the graph allows), checker, parity, ModelSpec."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bgbye.errors import BgbyeError
from bgbye.models.spec import InputPolicy, ModelSpec, OutputPolicy
from bgbye_pipelines.ml.model import U2NETP, BuiltModel, ModelBuildError

log = logging.getLogger(__name__)


class ExportError(BgbyeError):
    code = "export_failed"
    http_status = 500


@contextlib.contextmanager
def _onnx2torch_opset(opset: int) -> Iterator[None]:
    """onnx2torch's Shape/Gather/... modules ask torch for the export opset through a private
    attribute that torch 2.x no longer has; provide it for the length of one export."""
    from torch.onnx import symbolic_helper

    name = "_export_onnx_opset_version"
    present = hasattr(symbolic_helper, name)
    if not present:
        setattr(symbolic_helper, name, opset)
    try:
        yield
    finally:
        if not present:
            delattr(symbolic_helper, name)


def export_onnx(module: nn.Module, path: Path, size: int, *, dynamic_size: bool = True,
                opset: int = 17) -> None:
    """Write ``path`` atomically: input ``input`` (N,3,H,W), output ``logits`` (N,1,H,W)."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval().cpu()
    axes: dict[int, str] = {0: "batch"}
    if dynamic_size:
        axes.update({2: "height", 3: "width"})
    dummy = torch.zeros(1, 3, size, size)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_path = Path(tmp) / path.name
        with torch.no_grad(), _onnx2torch_opset(opset):
            torch.onnx.export(module, (dummy,), str(tmp_path), input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": axes, "logits": axes},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        model = onnx.load(str(tmp_path))
        onnx.checker.check_model(model, full_check=True)
        tmp_path.replace(path)


def parity(module: nn.Module, path: Path, sizes: list[int], batch: int = 2, seed: int = 0
           ) -> float:
    """Max |ORT - torch| over random inputs of ``batch`` x each size (proves dynamic axes)."""
    import onnxruntime as ort

    module = module.eval().cpu()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for size in sizes:
        x = torch.randn(batch, 3, size, size, generator=gen)
        with torch.no_grad():
            expected = module(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        if got.shape != expected.shape:
            raise ExportError(f"ONNX output shape {got.shape} != torch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def check_parity(module: nn.Module, path: Path, sizes: list[int], tolerance: float) -> float:
    diff = parity(module, path, sizes)
    if not diff <= tolerance:
        raise ExportError(f"ONNX Runtime and torch disagree on {path.name}: max abs diff "
                          f"{diff:.2e} > {tolerance:.0e}")
    log.info("ONNX parity %s: max abs diff %.2e over sizes %s", path.name, diff, sizes)
    return diff


def blend_with_start(best: dict[str, Any], start: BuiltModel, weight: float
                     ) -> dict[str, Any]:
    """``weight`` x the fine-tuned weights + (1 - weight) x the starting model's (a weight-space
    ensemble, WiSE-FT, Wortsman et al. 2022): most of the in-domain gain, less of the drift
    elsewhere. Only meaningful when the start is a whole trained model (u2netp), not a random
    decoder on a pretrained encoder."""
    if not 0.0 <= weight <= 1.0:
        raise ModelBuildError(f"export.blend_with_start must lie in [0, 1], got {weight}")
    if start.encoder != U2NETP:
        raise ModelBuildError(
            f"export.blend_with_start needs a fully pretrained start (encoder u2netp); "
            f"{start.encoder} starts from a random decoder: use 1.0")
    initial = start.module.state_dict()
    return {k: (weight * v + (1.0 - weight) * initial[k]) if v.is_floating_point() else v
            for k, v in best.items()}


def build_spec(*, name: str, size: int, built: BuiltModel, dynamic_batch: bool,
               description: str, license: str, source: str, training_data: Any,
               metrics: dict[str, Any], extra: dict[str, Any]) -> ModelSpec:
    """The ModelSpec whose input policy is exactly the training preprocessing (resampling,
    scaling, mean/std) and whose output policy is exactly what training's served alpha is."""
    return ModelSpec(
        name=name,
        version="1",
        task="salient",
        description=description,
        input=InputPolicy(resize="fixed", size=[size, size], multiple=32, scale=built.scale,
                          mean=list(built.mean), std=list(built.std), resample=built.resample,
                          dynamic_batch=dynamic_batch),
        output=OutputPolicy(index=0, channel=0, kind=built.export_kind,
                            normalize=built.normalize),
        license=license,
        source=source,
        training_data=training_data,
        metrics=metrics,
        **extra,
    )



def compress_fp16_weights(src: Path, dst: Path, min_elements: int = 1024) -> None:
    """Store large float32 weights as float16, cast back to float32 inside the graph.

    Halves the file (the 10 MB budget for a model shipped in the package) while ONNX Runtime
    still computes in float32: it constant-folds the casts when the session loads, so speed is
    unchanged on CPUs without fast float16 kernels. Inputs and outputs stay float32.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts, kept = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and arr.size >= min_elements:
            half = numpy_helper.from_array(arr.astype(np.float16), f"{init.name}__fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=f"{init.name}__cast"))
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model, full_check=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        tmp_path = Path(tmp) / dst.name
        onnx.save(model, str(tmp_path))
        tmp_path.replace(dst)


def ort_diff(a: Path, b: Path, size: int, batch: int = 2, seed: int = 0) -> float:
    """Max |a - b| of two ONNX files' outputs on the same random batch."""
    import onnxruntime as ort

    x = np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)
    outs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0] for p in (a, b)]
    return float(np.abs(outs[0] - outs[1]).max())
