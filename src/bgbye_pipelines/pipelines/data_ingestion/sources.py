"""What a dataset source is: where it comes from and how its images pair with masks.

Sources are plain dictionaries in ``conf/<env>/parameters_data_ingestion.yml``; this module
validates them once (pydantic) so a typo fails fast with the source's name in the message.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bgbye.errors import BgbyeError

KINDS = ("url", "gdrive", "path", "generated")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class IngestionError(BgbyeError):
    """A source could not be obtained, unpacked or paired; ``message`` says which and why."""

    code = "ingestion_failed"
    http_status = 502


class ConfigError(BgbyeError):
    code = "invalid_config"
    http_status = 422


class Pairing(BaseModel):
    """How images find their masks, relative to the source root.

    ``images``: a folder, or a glob of folders/files (``DIS5K/DIS-*/im``).
    ``masks``: a folder that mirrors the image folder, or a template with ``{dir}`` (the image's
    folder relative to the root), e.g. ``{dir}/../gt``; ``None`` for unlabelled images.
    A mask is ``<masks>/<stem><mask_suffix><ext>`` for the first ext in ``mask_extensions``.
    """

    model_config = ConfigDict(extra="forbid")

    images: str = "images"
    masks: str | None = "masks"
    mask_suffix: str = ""
    mask_extensions: list[str] = Field(default_factory=lambda: [".png", ".jpg", ".jpeg", ".bmp"])

    @field_validator("mask_extensions")
    @classmethod
    def _dotted(cls, value: list[str]) -> list[str]:
        return [v if v.startswith(".") else f".{v}" for v in value]


class Generated(BaseModel):
    """Synthetic pairs made by code (CI and tests): shapes on textured backgrounds."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=12, ge=1, le=100_000)
    width: int = Field(default=96, ge=16, le=4096)
    height: int = Field(default=72, ge=16, le=4096)
    seed: int = 0
    soft: bool = False  # blurred mask edges (an alpha matte) instead of a binary mask


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    url: str | None = None
    gdrive: str | None = None
    path: str | None = None
    generated: Generated | None = None
    sha256: str | None = None  # of the downloaded archive
    filename: str | None = None  # cache file name for url/gdrive (default: from the URL or id)
    pairing: Pairing = Field(default_factory=Pairing)
    required: bool = False
    enabled: bool = True
    # annotation (human ground truth) | model (another model's output) | synthetic (composited)
    mask_origin: Literal["annotation", "model", "synthetic"] = "annotation"
    # Force every pair of this source into one split (e.g. model-made masks only in test,
    # composites of training subjects only in train); None = the usual hashed split.
    split: Literal["train", "val", "test"] | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '_', '-' and '.' (it becomes a folder name)")
        return value

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("sha256 must be 64 hex digits")
        return value.lower() if value else value

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> SourceSpec:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(KINDS)} (got {given or 'none'})")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be http(s); use `path` for local files")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)


def parse_sources(raw: list[dict[str, Any]] | None) -> list[SourceSpec]:
    """Validate the ``sources`` list; names must be unique."""
    specs: list[SourceSpec] = []
    for i, item in enumerate(raw or []):
        label = item.get("name", f"#{i}") if isinstance(item, dict) else f"#{i}"
        try:
            specs.append(SourceSpec.model_validate(dict(item)))
        except (ValidationError, TypeError) as exc:
            raise ConfigError(f"Source {label}: invalid definition: {exc}") from exc
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"Source names must be unique; repeated: {', '.join(dupes)}")
    return specs
