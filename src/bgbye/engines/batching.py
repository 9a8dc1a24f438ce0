"""A copy of a model whose batch dimension is dynamic, so a GPU can run many images at once.

Exporters often freeze the batch at 1 (rembg's u2netp is [1, 3, 320, 320]). Renaming dim 0 of
every graph input and output to a symbol is enough when no node hard-codes it (a Reshape to
[1, ...] does); the copy is then checked by running a batch of 2 on ONNX Runtime, and refused
if the graph does not allow it. Needs the ``onnx`` package.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bgbye.atomic import atomic_write_bytes
from bgbye.models.spec import ModelSpec

BATCH_SYMBOL = "batch"


def with_dynamic_batch(src: Path, dst: Path, spec: ModelSpec) -> bool:
    """Write ``dst`` (+ its spec with ``input.dynamic_batch``) if a batch of 2 runs and gives
    the same outputs as two single runs; False (nothing written) when the graph forbids it."""
    import onnx

    model = onnx.load(str(src))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = BATCH_SYMBOL
    del model.graph.value_info[:]  # stale intermediate shapes would pin the batch again
    with tempfile.TemporaryDirectory(prefix="bgbye-batch-") as tmp:
        candidate = Path(tmp) / "model.onnx"
        onnx.save(model, str(candidate))
        if not _batch_of_two_matches(src, candidate, spec):
            return False
        atomic_write_bytes(dst, candidate.read_bytes())
    variant = spec.model_copy(deep=True)
    variant.input.dynamic_batch = True
    variant.name, variant.file, variant.sha256 = dst.stem, None, None
    variant.dump(dst.with_suffix(".json"))
    return True


def _batch_of_two_matches(original: Path, candidate: Path, spec: ModelSpec) -> bool:
    w, h = spec.input.size[0], spec.input.size[-1]
    x = np.random.default_rng(0).standard_normal((2, 3, h, w), dtype=np.float32)
    try:
        single = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"])
        batched = ort.InferenceSession(str(candidate), providers=["CPUExecutionProvider"])
        name = single.get_inputs()[0].name
        both = batched.run(None, {name: x})[spec.output.index]
        ones = [single.run(None, {name: x[i : i + 1]})[spec.output.index] for i in range(2)]
    except Exception:  # ORT refuses a graph that hard-codes the batch (shape errors)
        return False
    return bool(np.allclose(both, np.concatenate(ones), atol=1e-4))
