"""Precision variants of a model: ``NAME-int8.onnx`` + ``NAME-int8.json`` beside ``NAME.onnx``.

A variant's spec is the base spec plus ``variant_of``, ``precision`` and, once measured,
``metrics.vs_fp32`` (MAE/IoU against the fp32 model on a held-out split). A variant, or a
runtime precision (``metrics.precision.bf16`` in the base spec), that loses more than
``LOSSY_MAE`` is labelled lossy wherever models are listed.
"""

from __future__ import annotations

from typing import Any

from bgbye.errors import ModelNotAvailableError
from bgbye.models.registry import ModelEntry, Registry
from bgbye.models.spec import ModelSpec

LOSSY_MAE = 0.002


def variant_name(base: str, precision: str) -> str:
    return f"{base}-{precision}"


def spec_precision(spec: ModelSpec) -> str:
    return str((spec.model_extra or {}).get("precision", "fp32"))


def variant_entry(registry: Registry, entry: ModelEntry, precision: str) -> ModelEntry:
    """The ``precision`` variant of ``entry``: beside its weights first, then by name."""
    if spec_precision(entry.spec) == precision:
        return entry
    name = variant_name(entry.spec.name, precision)
    if entry.path is not None:
        onnx = entry.path.with_name(f"{name}.onnx")
        if onnx.is_file() and onnx.with_suffix(".json").is_file():
            return ModelEntry(ModelSpec.load(onnx.with_suffix(".json")), onnx, entry.origin)
    found = registry.entries().get(name)
    if found is not None and found.available:
        return found
    raise ModelNotAvailableError(
        f"Model {entry.spec.name!r} has no {precision} variant yet: make one with "
        f"`bgbye models quantize {entry.spec.name}` (calibrated on your training images), "
        "or choose --precision fp32|bf16."
    )


def quality(spec: ModelSpec, precision: str | None = None) -> dict[str, Any] | None:
    """The measured delta against fp32: a variant's own, or a runtime precision's."""
    if precision is None:
        found = spec.metrics.get("vs_fp32")
    else:
        found = spec.metrics.get("precision", {}).get(precision)
    return found if isinstance(found, dict) else None


def is_lossy(delta: dict[str, Any] | None) -> bool:
    return delta is not None and float(delta.get("mae_delta", 0.0)) > LOSSY_MAE


def describe(delta: dict[str, Any] | None) -> str:
    """``+0.0027 MAE, -0.016 IoU (lossy)`` or ``not measured``."""
    if delta is None:
        return "quality not measured"
    text = f"{float(delta['mae_delta']):+.4f} MAE, {float(delta.get('iou_delta', 0.0)):+.3f} IoU"
    return f"{text} (lossy: > {LOSSY_MAE} MAE)" if is_lossy(delta) else text


def precision_notes(spec: ModelSpec) -> dict[str, str]:
    """What ``bgbye models list`` says about a spec's precisions: its own if it is a variant,
    else each measured runtime precision (``metrics.precision``)."""
    own = spec_precision(spec)
    if own != "fp32":
        base = (spec.model_extra or {}).get("variant_of", "?")
        return {own: f"variant of {base}: {describe(quality(spec))}"}
    measured = spec.metrics.get("precision", {})
    return {p: describe(quality(spec, p)) for p in sorted(measured)}
