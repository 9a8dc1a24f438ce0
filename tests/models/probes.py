"""Probe ONNX models: the I/O signature of a catalogue model, a cheap function inside.

A probe takes the (1, 3, H, W) input a catalogue model takes and returns, at output ``index``,
a per-pixel function of it with the output's shape (1, C, H, W) (C = 1, or the number of class
channels). Extra decoy outputs (a different function) make a wrong output index visible; logits
probes are scaled so that a missing or extra sigmoid changes the alpha. The u2net-family probes
copy u2netp's real graph signature (input ``input.1``, seven 320x320 outputs); names of the
larger graphs are not observable offline and do not matter to either tool (both read the
input name from the graph and take outputs by index).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bgbye.models.spec import ModelSpec

# (3 -> C) 1x1 convolution weights: distinct per channel so class argmaxes vary over an image.
_MIX = np.array(
    [[0.9, -0.4, 0.3], [-0.6, 1.1, -0.2], [0.2, -0.3, 1.0], [-0.5, -0.5, 0.8], [0.4, 0.4, -0.9]],
    np.float32,
)


def _u2net_family(spec: ModelSpec) -> bool:
    return spec.input.size == [320, 320] or spec.name.startswith("u2net")


def probe_signature(spec: ModelSpec) -> tuple[str, list[int], list[tuple[str, list[int]]]]:
    w, h = spec.input.size[0], spec.input.size[-1]
    channels = max(spec.output.classes.values()) + 1 if spec.output.kind == "classes" else 1
    if _u2net_family(spec):
        outs = [(str(1959 + i), [1, channels, h, w]) for i in range(7)]
        return "input.1", [1, 3, h, w], outs
    outs = [("output", [1, channels, h, w]), ("decoy", [1, channels, h, w])]
    return "input", [1, 3, h, w], outs


def build_probe(spec: ModelSpec, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    in_name, in_shape, outs = probe_signature(spec)
    channels = outs[0][1][1]
    gain = 4.0 if spec.output.kind == "logits" else 1.0
    weight = (_MIX[:channels] * gain).reshape(channels, 3, 1, 1)
    inits = [
        numpy_helper.from_array(weight, "w"),
        numpy_helper.from_array(np.linspace(-0.3, 0.3, channels, dtype=np.float32), "b"),
        numpy_helper.from_array(-weight[:, ::-1].copy(), "w_decoy"),
    ]
    nodes = []
    for i, (name, _) in enumerate(outs):
        if i == spec.output.index:
            nodes.append(helper.make_node("Conv", [in_name, "w", "b"], [name]))
        else:
            nodes.append(helper.make_node("Conv", [in_name, "w_decoy"], [name]))
    graph = helper.make_graph(
        nodes,
        f"probe-{spec.name}",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outs],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
