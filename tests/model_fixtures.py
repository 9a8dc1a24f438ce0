"""Models built by code for tests: a tiny real ONNX graph with its ModelSpec."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bgbye.models.spec import InputPolicy, ModelSpec, OutputPolicy


def build_tiny_onnx(path: Path, size: int = 64) -> None:
    """A 1x1 convolution + sigmoid: brightness-driven alpha, deterministic and fast.

    Dynamic height/width so it also serves as a fully convolutional model.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.array([[[[1.5]], [[1.5]], [[1.5]]]], np.float32), "w")
    bias = numpy_helper.from_array(np.array([-0.5], np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w", "b"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["alpha"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_tiny_model(folder: Path, name: str = "tiny", size: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{name}.onnx"
    build_tiny_onnx(onnx_path, size)
    ModelSpec(
        name=name,
        description="test model: 1x1 conv + sigmoid",
        input=InputPolicy(
            resize="fixed",
            size=[size, size],
            scale="unit",
            mean=[0.5, 0.5, 0.5],
            std=[0.5, 0.5, 0.5],
            resample="bilinear",
        ),
        output=OutputPolicy(kind="prob", normalize="none"),
        license="Apache-2.0",
        source="tests/model_fixtures.py",
    ).dump(folder / f"{name}.json")
    return onnx_path
