"""What a caller may ask of one removal: the one typed options model of every front end.

:class:`RemoveOptions` is validated once, when it is built, and every front end builds the
same model: the CLI from its flags, the HTTP routes (``/v1``, ``/process``, the compatible
APIs) from their form fields, the jobs from their stored record. Past construction nothing
re-checks it: :class:`bgbye.remover.Remover` and :func:`bgbye.postprocess.compose` trust it.

- Building one with a bad value raises :class:`bgbye.errors.InvalidOptionError` (HTTP 422)
  whose message names the field; a background image that is not an image raises
  :class:`bgbye.errors.InvalidImageError` (415).
- ``bg_image`` is the *encoded* background (the bytes of a file or upload): the model stays
  cheap to build, to send to Ray workers and to store with a job; the Remover decodes it once
  under its settings' limits.
- :meth:`RemoveOptions.to_record` / :meth:`RemoveOptions.from_record` are the JSON form a job
  stores (the background travels as a separate file).

Which engine answers (``model`` vs ``provider``) is not an output option: that rule is
:func:`bgbye.engines.providers.engine_ref`, shared the same way.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bgbye import imageio
from bgbye.errors import InvalidOptionError
from bgbye.layout import Layout

OutputFormat = Literal["png", "webp", "jpg"]
MAX_MARGIN = 10_000

_NAMED_COLORS = {
    "white": "ffffff",
    "black": "000000",
    "red": "ff0000",
    "green": "00ff00",
    "blue": "0000ff",
    "gray": "808080",
    "grey": "808080",
    "transparent": "00000000",
}
_HEX = re.compile(r"^[0-9a-fA-F]{3,8}$")


def parse_color(value: str) -> tuple[int, int, int, int]:
    """``#81d4fa``, ``fff``, ``81d4fa77`` or a few names -> RGBA."""
    v = value.strip().lower().lstrip("#")
    v = _NAMED_COLORS.get(v, v)
    if not _HEX.match(v) or len(v) not in (3, 4, 6, 8):
        raise InvalidOptionError(
            f"Invalid colour {value!r}: use hex like #81d4fa, fff or 81d4fa80."
        )
    if len(v) in (3, 4):
        v = "".join(c * 2 for c in v)
    r, g, b = int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)
    a = int(v[6:8], 16) if len(v) == 8 else 255
    return r, g, b, a


class RemoveOptions(BaseModel):
    """Output options of one removal (see the module docstring for who builds it and how)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: OutputFormat = Field("png", description="Output format: png, webp or jpg (jpeg).")
    mask_only: bool = Field(False, description="Return the alpha mask as a grey image.")
    bg_color: str | None = Field(
        None, description="Background colour instead of transparency: #81d4fa, fff, 81d4fa80, "
                          "white. Semi-transparent colours compose with the 'over' operator.")
    bg_image: bytes | None = Field(
        None, repr=False, description="Background image file (scaled to cover).")
    crop: bool = Field(False, description="Crop to the subject.")
    margin: int = Field(0, ge=0, le=MAX_MARGIN, description="Margin around the crop, px.")
    refine: bool = Field(False, description="Clear the faint haze around the subject (alpha levels "
                        "64..192 stretched to 0..255).")
    layout: Layout | None = Field(
        None, description="Placement: region of interest, crop margins, subject scale and "
                          "position, output size limit (remove.bg's options; see bgbye.layout).")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidOptionError(_message(exc)) from None

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        return imageio.normalize_format(value) if isinstance(value, str) or value is None else value

    @field_validator("bg_color", mode="before")
    @classmethod
    def _color(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip() or None  # an empty form field means "not given"
            if value is not None:
                parse_color(value)
        return value

    @field_validator("bg_image", mode="before")
    @classmethod
    def _background(cls, value: Any) -> Any:
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value) or None  # an empty upload means "not given"
            if value is not None:
                imageio.probe(value)  # header only: not an image fails here, not per photo
        return value

    @model_validator(mode="after")
    def _combinations(self) -> RemoveOptions:
        if self.bg_color is not None and self.bg_image is not None:
            raise InvalidOptionError("Choose either a background colour or a background image.")
        if self.mask_only and (self.bg_color is not None or self.bg_image is not None):
            raise InvalidOptionError("mask_only cannot be combined with a background.")
        return self

    # -- what the rest of bgbye reads ------------------------------------------------------
    @property
    def output_format(self) -> str:
        return self.format

    @property
    def bg_rgba(self) -> tuple[int, int, int, int] | None:
        return parse_color(self.bg_color) if self.bg_color is not None else None

    @property
    def has_background(self) -> bool:
        return self.bg_color is not None or self.bg_image is not None

    def validated(self) -> RemoveOptions:
        """Kept for callers of the old API: a built model is valid already."""
        return self

    # -- a job's stored form -----------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """JSON-safe; ``bg_image`` says only whether there is one (stored beside the job)."""
        # No layout (only the compatible APIs set one, never in a job): the record stays as is.
        record = self.model_dump(exclude={"bg_image"} if self.layout else {"bg_image", "layout"})
        record["bg_image"] = self.bg_image is not None
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], bg_image: bytes | None = None) -> RemoveOptions:
        fields = {k: v for k, v in record.items() if k != "bg_image"}
        return cls(**fields, bg_image=bg_image if record.get("bg_image") else None)


def _message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "options"
        parts.append(f"{where}: {err['msg']}")
    return "Invalid option " + "; ".join(parts)
