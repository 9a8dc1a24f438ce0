"""`bgbye models add`: register any ONNX with a spec, checked against the graph.

The spec comes from a catalogue model (``--like``: its preprocessing and decoding, not its
hashes or licence) or a JSON file (``--spec``). Every mismatch between the spec and the graph's
inputs and outputs is named before anything is written; then the ONNX and its ``NAME.json``
land in the model directory atomically, with the file's sha256, md5 and size pinned.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bgbye.errors import InvalidSpecError
from bgbye.models.fetch import digests
from bgbye.models.spec import ModelSpec

_UNPINNED = (
    "sha256",
    "md5",
    "size_bytes",
    "approx_size_mb",
    "url",
    "carrier",
    "file",
    "rembg_session",
    "metrics",
    "training_data",
    "license_source",
    "non_commercial",
)


def spec_like(base: ModelSpec, name: str, license: str = "unknown") -> ModelSpec:
    """``base``'s preprocessing and decoding under a new name, nothing it pins."""
    data = base.model_dump(exclude=set(_UNPINNED))
    data.update(name=name, license=license, description=f"custom model, processed like {base.name}")
    return ModelSpec.model_validate(data)


def load_spec(path: Path, name: str | None) -> ModelSpec:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidSpecError(f"Cannot read the spec {path}: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidSpecError(f"The spec {path} is not a JSON object.")
    if name:
        data["name"] = name
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InvalidSpecError(f"The spec {path} is invalid: {where}: {first['msg']}.") from exc


def _dim(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def graph_mismatches(spec: ModelSpec, onnx_path: Path) -> list[str]:
    """Every way ``spec`` does not fit the graph's inputs and outputs (empty when it fits)."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for any unreadable graph
        raise InvalidSpecError(f"{onnx_path} is not a loadable ONNX model: {exc}") from exc
    problems: list[str] = []
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1:
        problems.append(f"the graph has {len(inputs)} inputs, bgbye feeds exactly one image")
    first = inputs[0]
    if first.type != "tensor(float)":
        problems.append(f"input {first.name!r} is {first.type}, bgbye feeds tensor(float)")
    shape = list(first.shape)
    if len(shape) != 4:
        problems.append(f"input {first.name!r} has shape {shape}, expected (N, 3, H, W)")
    else:
        if _dim(shape[1]) not in (None, 3):
            problems.append(f"input {first.name!r} has {shape[1]} channels, bgbye feeds 3 (RGB)")
        h, w = _dim(shape[2]), _dim(shape[3])
        pol = spec.input
        if h is not None and w is not None:
            if pol.resize != "fixed":
                problems.append(
                    f"input {first.name!r} is fixed at {w}x{h} but the spec resizes "
                    f"'{pol.resize}'; use resize 'fixed' with size [{w}, {h}]"
                )
            elif [pol.size[0], pol.size[-1]] != [w, h]:
                problems.append(
                    f"input {first.name!r} is {w}x{h} (W x H) but the spec's input size is "
                    f"{pol.size[0]}x{pol.size[-1]}"
                )
    if spec.output.index >= len(outputs):
        problems.append(
            f"the spec reads output {spec.output.index} but the graph has {len(outputs)}"
        )
        return problems
    out = outputs[spec.output.index]
    oshape = list(out.shape)
    if len(oshape) not in (3, 4):
        problems.append(f"output {out.name!r} has shape {oshape}, expected (N, C, H, W)")
        return problems
    channels = _dim(oshape[1]) if len(oshape) == 4 else 1
    if channels is not None:
        if spec.output.kind == "classes":
            top = max(spec.output.classes.values())
            if top >= channels:
                problems.append(
                    f"output {out.name!r} has {channels} channels but the spec's classes use "
                    f"channel {top}"
                )
        elif spec.output.channel >= channels:
            problems.append(
                f"output {out.name!r} has {channels} channels but the spec reads channel "
                f"{spec.output.channel}"
            )
    return problems


def add_model(
    onnx_path: Path, spec: ModelSpec, model_dir: Path, *, reserved: set[str], force: bool = False
) -> Path:
    """Check ``spec`` against the graph, then install ``NAME.onnx`` + ``NAME.json``."""
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise InvalidSpecError(f"No ONNX file at {onnx_path}.")
    if spec.name in reserved:
        raise InvalidSpecError(
            f"{spec.name!r} is a catalogue model's name; choose another with --name."
        )
    if "/" in spec.name or "\\" in spec.name or ":" in spec.name or spec.name.startswith("."):
        raise InvalidSpecError(f"Model names cannot contain '/', '\\' or ':': {spec.name!r}.")
    problems = graph_mismatches(spec, onnx_path)
    if problems:
        raise InvalidSpecError(
            f"The spec for {spec.name!r} does not fit {onnx_path.name}: "
            + "; ".join(problems)
            + "."
        )
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / f"{spec.name}.onnx"
    if target.exists() and not force:
        raise InvalidSpecError(f"{target} exists already; pass --force to replace it.")
    got = digests(onnx_path)
    final = spec.model_copy(
        update={
            "sha256": got.sha256,
            "md5": got.md5,
            "size_bytes": got.size,
            "file": None,
            "source": spec.source or f"added with `bgbye models add` from {onnx_path}",
        }
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=model_dir)
    try:
        with os.fdopen(fd, "wb") as out, open(onnx_path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        # The spec first: a registry scan only lists an .onnx that has its .json beside it.
        final.dump(target.with_suffix(".json"))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
