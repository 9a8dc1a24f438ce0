"""Static post-training int8 quantization of a model into its ``NAME-int8`` variant.

ONNX Runtime's static QDQ quantizer, per-channel weights, calibrated on images preprocessed by
the model's own spec (so calibration sees exactly what inference will). The QDQ file runs on
ONNX Runtime and on OpenVINO (which fuses it into int8 kernels). Needs the ``onnx`` package
(``pip install 'bgbye[openvino]'`` brings it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bgbye.engines.onnx import preprocess
from bgbye.engines.variants import variant_name
from bgbye.errors import InvalidOptionError
from bgbye.models.registry import ModelEntry
from bgbye.models.spec import ModelSpec

PER_CHANNEL_OPSET = 13


def _opset(model: Any) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


# Ops walked through from the outputs back to the convolutions that make the logits.
_HEAD_OPS = {"Sigmoid", "Resize", "Concat", "Add", "Mul", "Relu", "Clip", "Upsample"}


def float_head(model: Any) -> list[str]:
    """Names of the nodes between the graph outputs and the last convolution on each path.

    They stay in float: the logits feed a sigmoid (and a min-max stretch), where one int8
    step of a wide logit range is several alpha levels (u2netp: +0.03 MAE when quantized).
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    keep: list[str] = []
    seen: set[str] = set()
    todo = [o.name for o in model.graph.output]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            keep.append(node.name)
        elif node.op_type in _HEAD_OPS:
            keep.append(node.name)
            data = node.input[:1] if node.op_type in ("Resize", "Upsample") else node.input
            todo.extend(data)
    return keep


def _calibration_reader(spec: ModelSpec, input_name: str, images: Iterable[np.ndarray]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            rgb = next(self._it, None)
            return None if rgb is None else {input_name: preprocess(spec, rgb)}

    return Reader()


def quantize_int8(
    entry: ModelEntry,
    calibration: Iterable[np.ndarray],
    out_dir: Path | None = None,
    *,
    calibration_note: str = "",
    method: str = "minmax",
) -> tuple[Path, ModelSpec]:
    """Write ``NAME-int8.onnx`` + ``.json`` (beside the model unless ``out_dir``)."""
    try:
        import onnx
        import onnx.version_converter
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidOptionError(
            f"int8 quantization needs the onnx package: pip install 'bgbye[openvino]' ({exc})"
        ) from exc
    from bgbye.atomic import atomic_write_bytes

    if entry.path is None:
        raise InvalidOptionError(f"{entry.spec.name}: no weights to quantize")
    spec = entry.spec
    name = variant_name(spec.name, "int8")
    folder = Path(out_dir or entry.path.parent)
    input_name = onnx.load(str(entry.path), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="bgbye-quant-") as tmp:
        upgraded = Path(tmp) / "opset.onnx"
        prepared = Path(tmp) / "prepared.onnx"
        quantized = Path(tmp) / "int8.onnx"
        model = onnx.load(str(entry.path))
        if _opset(model) < PER_CHANNEL_OPSET:  # per-channel DequantizeLinear needs an axis
            model = onnx.version_converter.convert_version(model, PER_CHANNEL_OPSET)
        onnx.save(model, str(upgraded))
        # Shape inference + constant folding first, as ORT's quantizer recommends.
        quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
        head = float_head(onnx.load(str(prepared)))
        quantize_static(
            str(prepared),
            str(quantized),
            _calibration_reader(spec, input_name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method={
                "minmax": CalibrationMethod.MinMax,
                "percentile": CalibrationMethod.Percentile,
                "entropy": CalibrationMethod.Entropy,
            }[method],
            nodes_to_exclude=head,
        )
        atomic_write_bytes(folder / f"{name}.onnx", quantized.read_bytes())
    variant = spec.model_copy(
        update={
            "name": name,
            "file": None,
            "sha256": None,
            "url": None,
            "carrier": None,
            "description": f"{spec.description} [int8 static quantization of {spec.name}]",
            "metrics": {},
        }
    )
    extra = variant.model_extra if variant.model_extra is not None else {}
    extra.update(variant_of=spec.name, precision="int8", calibration=calibration_note)
    variant.dump(folder / f"{name}.json")
    return folder / f"{name}.onnx", variant


def record_quality(spec_path: Path, delta: dict[str, Any]) -> ModelSpec:
    """Store a measured delta against fp32 (``metrics.vs_fp32``) in a variant's spec."""
    spec = ModelSpec.load(spec_path)
    spec.metrics = {**spec.metrics, "vs_fp32": delta}
    spec.dump(spec_path)
    return spec
