"""remove.bg's request fields, parsed and validated (pure: no I/O), and their translation
onto bgbye's ``RemoveOptions`` + ``Layout``. The routes are in ``routes/compat_removebg.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bgbye import imageio
from bgbye.layout import ZERO, Layout, Length
from bgbye.options import RemoveOptions, parse_color
from bgbye.server.compat import CompatError, Fields, css_color, parse_bool

# Output megapixel limits per ``size`` (remove.bg's documented values; auto = no limit).
SIZES: dict[str, int | None] = {
    "preview": 250_000, "small": 250_000, "regular": 250_000, "medium": 1_500_000,
    "hd": 4_000_000, "full": 25_000_000, "4k": 25_000_000, "50mp": 50_000_000, "auto": None,
}
TYPES = frozenset({"auto", "person", "product", "car", "animal", "graphic", "transportation"})
TYPE_LEVELS = frozenset({"none", "1", "2", "latest"})
FORMATS = frozenset({"auto", "png", "jpg", "jpeg", "webp", "zip"})
SHADOW_TYPES = frozenset({"car", "3d", "drop"})
SOURCES = ("image_file", "image_file_b64", "image_url")
BG_SOURCES = ("bg_color", "bg_image_url", "bg_image_file")
FIELDS = frozenset({
    *SOURCES, *BG_SOURCES, "size", "type", "type_level", "format", "roi", "crop",
    "crop_margin", "scale", "position", "channels", "add_shadow", "shadow_type",
    "shadow_opacity", "semitransparency",
})

_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")


def _length(text: str, code: str, name: str) -> Length:
    m = _LENGTH.match(text.strip().lower())
    if not m:
        raise CompatError(f"{name}: {text!r} is not a length like 10px or 5%.", code=code)
    return Length(float(m.group(1)), percent=m.group(2) == "%")


def _percent(text: str, code: str, name: str, low: float, high: float) -> float:
    m = re.match(r"^(\d+(?:\.\d+)?)%$", text.strip())
    value = float(m.group(1)) if m else -1.0
    if not low <= value <= high:
        raise CompatError(f"{name}: {text!r} must be a percentage from {low:g}% to {high:g}%.",
                          code=code)
    return value / 100.0


def parse_roi(text: str) -> tuple[Length, Length, Length, Length]:
    parts = text.split()
    if len(parts) != 4:
        raise CompatError(f"roi: {text!r} must be four values \"x1 y1 x2 y2\".",
                          code="invalid_roi")
    x1, y1, x2, y2 = (_length(p, "invalid_roi", "roi") for p in parts)
    return x1, y1, x2, y2


def parse_crop_margin(text: str) -> tuple[Length, Length, Length, Length]:
    parts = [_length(p, "invalid_crop_margin", "crop_margin") for p in text.split()]
    if len(parts) not in (1, 2, 4):
        raise CompatError("crop_margin takes 1, 2 or 4 values.", code="invalid_crop_margin")
    for p in parts:
        if p.value > (50 if p.percent else 500):
            raise CompatError("crop_margin: at most 50% or 500px per side.",
                              code="invalid_crop_margin")
    if len(parts) == 1:
        return parts[0], parts[0], parts[0], parts[0]
    if len(parts) == 2:  # vertical, horizontal (CSS order)
        return parts[0], parts[1], parts[0], parts[1]
    return parts[0], parts[1], parts[2], parts[3]


def parse_position(text: str) -> tuple[float, float] | None:
    v = text.strip().lower()
    if v == "original":
        return None
    if v == "center":
        return 0.5, 0.5
    parts = v.split()
    if len(parts) not in (1, 2):
        raise CompatError(f"position: {text!r} must be original, center, \"x%\" or \"x% y%\".",
                          code="invalid_position")
    values = [_percent(p, "invalid_position", "position", 0, 100) for p in parts]
    return values[0], values[-1]


@dataclass(frozen=True)
class RemoveBgRequest:
    """A validated remove.bg request (everything but the image and background bytes)."""

    size: str = "preview"
    type: str = "auto"
    type_level: str = "1"
    format: str = "auto"
    roi: tuple[Length, Length, Length, Length] | None = None
    crop: bool = False
    crop_margin: tuple[Length, Length, Length, Length] = (ZERO, ZERO, ZERO, ZERO)
    scale: float | None = None
    position: tuple[float, float] | None = None
    channels: str = "rgba"
    bg_color: str | None = None

    @property
    def opaque_background(self) -> bool:
        return self.bg_color is not None and parse_color(self.bg_color)[3] == 255

    def output_format(self, has_bg_image: bool) -> str:
        """``auto``: PNG when the result has transparency, JPG when it has none."""
        if self.format == "auto":
            opaque = self.channels == "rgba" and (has_bg_image or self.opaque_background)
            return "jpg" if opaque else "png"
        return {"jpeg": "jpg"}.get(self.format, self.format)


def _choice(fields: Fields, name: str, allowed: frozenset[str] | dict[str, Any], default: str,
            code: str) -> str:
    value = (fields.get(name) or default).lower()
    if value not in allowed:
        raise CompatError(f"{name}: {fields.get(name)!r} is not one of "
                          f"{', '.join(sorted(allowed))}.", code=code)
    return value


def parse_fields(fields: Fields) -> RemoveBgRequest:
    unknown = fields.unknown(FIELDS)
    if unknown:
        raise CompatError(f"Unknown parameter(s): {', '.join(unknown)}.",
                          code="unknown_parameter")
    sources = [s for s in SOURCES if s in fields.names()]
    if not sources:
        raise CompatError("Send exactly one of image_file, image_file_b64 or image_url.",
                          code="missing_source")
    if len(sources) > 1:
        raise CompatError(f"Send one image source, not {' and '.join(sources)}.",
                          code="multiple_sources")
    bgs = [s for s in BG_SOURCES if s in fields.names()]
    if len(bgs) > 1:
        raise CompatError(f"Send one background, not {' and '.join(bgs)}.",
                          code="multiple_bg_sources")
    size = _choice(fields, "size", SIZES, "preview", "invalid_size")
    type_ = _choice(fields, "type", TYPES, "auto", "invalid_type")
    type_level = _choice(fields, "type_level", TYPE_LEVELS, "1", "invalid_type_level")
    fmt = _choice(fields, "format", FORMATS, "auto", "invalid_format")
    channels = _choice(fields, "channels", frozenset({"rgba", "alpha"}), "rgba",
                       "invalid_channels")
    parse_bool("semitransparency", fields.get("semitransparency"), True,
               "invalid_semitransparency")  # accepted: bgbye's alpha is always soft
    parse_bool("add_shadow", fields.get("add_shadow"), False, "invalid_add_shadow")
    if fields.get("shadow_type"):
        _choice(fields, "shadow_type", SHADOW_TYPES, "drop", "invalid_shadow_type")
    if fields.get("shadow_opacity"):
        value = fields.get("shadow_opacity") or ""
        if not value.isdigit() or int(value) > 100:
            raise CompatError("shadow_opacity must be an integer from 0 to 100.",
                              code="invalid_shadow_opacity")
    roi_text = fields.get("roi")
    roi = parse_roi(roi_text) if roi_text else None
    margin_text = fields.get("crop_margin")
    margin = parse_crop_margin(margin_text) if margin_text else (ZERO, ZERO, ZERO, ZERO)
    scale_text = (fields.get("scale") or "original").lower()
    scale = None if scale_text == "original" else _percent(scale_text, "invalid_scale",
                                                           "scale", 10, 100)
    position = parse_position(fields.get("position") or "original")
    bg_color = fields.get("bg_color")
    if bg_color is not None:
        bg_color = css_color(bg_color, "invalid_bg_color")
    if channels == "alpha" and (bgs or fmt == "zip"):
        raise CompatError("channels=alpha answers the mask alone: it takes no background and "
                          "no zip (the zip holds the alpha already).", code="invalid_channels")
    return RemoveBgRequest(size=size, type=type_, type_level=type_level, format=fmt, roi=roi,
                    crop=parse_bool("crop", fields.get("crop"), False, "invalid_crop"),
                    crop_margin=margin, scale=scale, position=position, channels=channels,
                    bg_color=bg_color)


def to_options(req: RemoveBgRequest, info: imageio.ImageInfo, bg_image: bytes | None
               ) -> RemoveOptions:
    roi = req.roi
    if roi is not None:
        layout = Layout(roi=roi)
        x0, y0, x1, y1 = layout.roi_box(info.width, info.height)
        raw = [(roi[0], info.width), (roi[1], info.height), (roi[2], info.width),
               (roi[3], info.height)]
        if any(length.px(ref) > ref for length, ref in raw):
            raise CompatError(f"roi exceeds the image ({info.width}x{info.height}).",
                              code="roi_exceeds_bounds")
        if x1 <= x0 or y1 <= y0:
            raise CompatError("roi is empty: x2 must exceed x1 and y2 must exceed y1.",
                              code="invalid_roi")
    fmt = req.output_format(bg_image is not None)
    layout = Layout(max_pixels=SIZES[req.size], roi=roi, crop=req.crop,
                    crop_margin=req.crop_margin, scale=req.scale, position=req.position)
    return RemoveOptions(format="png" if fmt == "zip" else fmt,
                         mask_only=req.channels == "alpha", bg_color=req.bg_color,
                         bg_image=bg_image, layout=layout)
