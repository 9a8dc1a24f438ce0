"""remove.bg's API v1.0 (``POST /v1.0/removebg``, ``GET /v1.0/account``), served by bgbye.

A translation onto bgbye's ``RemoveOptions`` (+ ``Layout`` for roi/crop/scale/position/size) and the
one ``Backend.remove`` path; fields, codes and headers follow remove.bg's published contract
(docs/compat.md has the field table). Point a remove.bg client's base URL at
``http://HOST:PORT/v1.0``.
"""

from __future__ import annotations

import base64
import io
import re
import time
import zipfile
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from bgbye import imageio
from bgbye.errors import BgbyeError, EmptyInputError, ImageTooLargeError, InvalidImageError
from bgbye.layout import ZERO, Layout, Length
from bgbye.options import RemoveOptions, parse_color
from bgbye.remover import RemoveResult
from bgbye.server.compat import (
    ANY_TEXT,
    CompatError,
    Fields,
    decode_b64,
    error_responses,
    parse_bool,
    read_fields,
)
from bgbye.server.deps import BackendDep, require_api_key
from bgbye.server.errors import UnauthorizedError
from bgbye.server.service import Backend
from bgbye.server.urlfetch import UrlFetchError, UrlRefusedError, fetch_image


class RemoveBgError(BaseModel):
    title: str
    code: str
    detail: str | None = None


class RemoveBgErrors(BaseModel):
    errors: list[RemoveBgError]


PREFIX = "/v1.0"
router = APIRouter(prefix=PREFIX, tags=["remove.bg-compatible"],
                   responses=error_responses(RemoveBgErrors, "remove.bg"))

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
# Self-hosted: nothing is charged. The account reports this many credits so that clients that
# check their balance before calling keep calling.
CREDITS = 1_000_000

TITLES = {
    "auth_failed": "API Key invalid",
    "missing_source": "No image given",
    "multiple_sources": "Multiple image sources given",
    "multiple_bg_sources": "Multiple background sources given",
    "failed_image_download": "Failed to download image from image_url",
    "failed_bg_download": "Failed to download background image from bg_image_url",
    "failed_to_read_image": "Failed to read image",
    "file_too_large": "File too large",
    "invalid_file_type": "Invalid file type",
    "resolution_too_high": "Input image resolution too high",
    "rate_limit_exceeded": "Rate limit exceeded",
    "unknown_parameter": "Unknown parameter",
    "unknown_foreground": "Could not identify foreground in image",
}
# bgbye's codes (errors raised below the translation) -> (status, remove.bg code).
_CODES = {
    "unauthorized": (403, "auth_failed"),
    "queue_full": (429, "rate_limit_exceeded"),
    "empty_input": (400, "failed_to_read_image"),
    "invalid_image": (400, "failed_to_read_image"),
    "request_too_large": (400, "file_too_large"),
    "image_too_large": (400, "file_too_large"),
    "invalid_option": (400, "invalid_parameters"),
    "missing_field": (400, "invalid_parameters"),
    "bad_request": (400, "invalid_parameters"),
}


def envelope(status: int, code: str, message: str, headers: dict[str, str] | None
             ) -> JSONResponse:
    """remove.bg's error shape: ``{"errors": [{"title", "code", "detail"}]}``."""
    status, code = _CODES.get(code, (status, code if status < 500 else "unknown_error"))
    title = TITLES.get(code) or code.replace("_", " ").capitalize()
    return JSONResponse({"errors": [{"title": title, "code": code, "detail": message}]},
                        status_code=status, headers=headers)


def _auth(request: Request) -> None:
    try:
        require_api_key(request)
    except UnauthorizedError:
        raise CompatError("Send a valid key in the X-Api-Key header.", code="auth_failed",
                          http_status=403) from None


# -- field parsing (pure) --------------------------------------------------------------------

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
        try:
            parse_color(bg_color)
        except BgbyeError as exc:
            raise CompatError(exc.message, code="invalid_bg_color") from None
    if channels == "alpha" and (bgs or fmt == "zip"):
        raise CompatError("channels=alpha answers the mask alone: it takes no background and "
                          "no zip (the zip holds the alpha already).", code="invalid_channels")
    return RemoveBgRequest(size=size, type=type_, type_level=type_level, format=fmt, roi=roi,
                    crop=parse_bool("crop", fields.get("crop"), False, "invalid_crop"),
                    crop_margin=margin, scale=scale, position=position, channels=channels,
                    bg_color=bg_color)


# -- bytes in --------------------------------------------------------------------------------

async def _fetch(backend: Backend, url: str, *, background: bool) -> bytes:
    what = "background image" if background else "image"
    try:
        return await fetch_image(url, backend.settings, what=what)
    except UrlRefusedError as exc:
        code = "invalid_bg_image_url" if background else "invalid_image_url"
        raise CompatError(exc.message, code=code) from None
    except (UrlFetchError, InvalidImageError, EmptyInputError) as exc:
        code = "failed_bg_download" if background else "failed_image_download"
        raise CompatError(exc.message, code=code) from None


async def _upload(backend: Backend, upload: UploadFile) -> bytes:
    limit = backend.settings.max_upload_bytes
    if upload.size is not None and upload.size > limit:
        raise CompatError(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.",
                          code="file_too_large")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise CompatError(f"The file is larger than the limit of {limit:,} bytes.",
                          code="file_too_large")
    return data


def _probe(backend: Backend, data: bytes) -> imageio.ImageInfo:
    limit = backend.settings.max_upload_bytes
    if len(data) > limit:
        raise CompatError(f"The image is {len(data):,} bytes; the limit is {limit:,} bytes.",
                          code="file_too_large")
    try:
        return imageio.probe(data, max_pixels=backend.settings.max_pixels)
    except ImageTooLargeError as exc:
        raise CompatError(exc.message, code="resolution_too_high") from None
    except EmptyInputError as exc:
        raise CompatError(exc.message, code="failed_to_read_image") from None
    except InvalidImageError as exc:
        raise CompatError(exc.message, code="invalid_file_type") from None


async def _image(backend: Backend, fields: Fields) -> bytes:
    if "image_file" in fields.files:
        return await _upload(backend, fields.files["image_file"])
    if "image_file" in fields.values:
        raise CompatError("image_file must be a file upload (multipart/form-data); send text "
                          "as image_file_b64.", code="failed_to_read_image")
    b64 = fields.get("image_file_b64")
    if b64 is not None:
        return decode_b64(b64)
    return await _fetch(backend, fields.get("image_url") or "", background=False)


async def _background(backend: Backend, fields: Fields) -> bytes | None:
    if "bg_image_file" in fields.files:
        data = await _upload(backend, fields.files["bg_image_file"])
    elif fields.get("bg_image_url"):
        data = await _fetch(backend, fields.get("bg_image_url") or "", background=True)
    elif "bg_image_file" in fields.values:
        raise CompatError("bg_image_file must be a file upload.", code="failed_bg_download")
    else:
        return None
    try:
        backend.check_image(data)
    except BgbyeError as exc:
        raise CompatError(f"The background image: {exc.message}",
                          code="failed_bg_download") from None
    return data


# -- the translation -------------------------------------------------------------------------

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


def _zip(result: RemoveResult) -> bytes:
    """remove.bg's zip: ``color.jpg`` (the colours) + ``alpha.png`` (the matte)."""
    image = cv2.imdecode(np.frombuffer(result.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:  # pragma: no cover - our own PNG always decodes
        raise InvalidImageError("The result could not be repackaged as a zip.")
    if image.ndim == 3 and image.shape[2] == 4:
        color = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        alpha = image[:, :, 3]
    else:  # an opaque background: the matte is full
        color = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        alpha = np.full(image.shape[:2], 255, np.uint8)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("color.jpg", imageio.encode(np.ascontiguousarray(color), "jpg"))
        zf.writestr("alpha.png", imageio.encode(np.ascontiguousarray(alpha), "png"))
    return buf.getvalue()


def _rate_headers(backend: Backend) -> dict[str, str]:
    pool = backend.pool
    return {
        "X-RateLimit-Limit": str(pool.capacity),
        "X-RateLimit-Remaining": str(max(0, pool.capacity - pool.in_flight)),
        "X-RateLimit-Reset": str(int(time.time()) + 1),
    }


def _result_headers(req: RemoveBgRequest, result: RemoveResult) -> dict[str, str]:
    left, top, right, bottom = result.foreground or (0, 0, 0, 0)
    headers = {
        "X-Credits-Charged": "0",
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Foreground-Top": str(top),
        "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(right - left),
        "X-Foreground-Height": str(bottom - top),
    }
    if req.type_level != "none":
        # bgbye does not classify subjects: it echoes the type asked for, "other" for auto.
        headers["X-Type"] = "other" if req.type == "auto" else req.type
    return headers


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept


REQUEST_BODY: dict[str, Any] = {
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "image_file": {"type": "string", "format": "binary"},
            "bg_image_file": {"type": "string", "format": "binary"},
            **{name: ANY_TEXT for name in sorted(FIELDS)
               if name not in ("image_file", "bg_image_file")},
        }}},
    },
}


@router.post(
    "/removebg",
    summary="remove.bg-compatible: remove the background of one image",
    description="remove.bg's API v1.0 (fields, codes, headers): see docs/compat.md. Bodies "
                "may be multipart, urlencoded or JSON. Nothing is charged "
                "(`X-Credits-Charged: 0`).",
    response_class=Response,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {},
                                 "application/zip": {}, "application/json": {}},
                     "description": "The image, or with Accept: application/json "
                                    "{\"data\": {\"result_b64\", \"foreground_*\"}}."}},
)
async def removebg(request: Request, backend: BackendDep) -> Response:
    _auth(request)
    fields = await read_fields(request, backend.settings.max_upload_bytes,
                               bad_body="invalid_parameters")
    req = parse_fields(fields)
    data = await _image(backend, fields)
    info = _probe(backend, data)
    options = to_options(req, info, await _background(backend, fields))
    result = await backend.remove(backend.engine_ref(), data, options)
    headers = {**_result_headers(req, result), **_rate_headers(backend)}
    body, media = result.data, result.media_type
    if req.format == "zip":
        body, media = _zip(result), "application/zip"
    if _wants_json(request):
        left, top, right, bottom = result.foreground or (0, 0, 0, 0)
        return JSONResponse({"data": {
            "result_b64": base64.b64encode(body).decode("ascii"),
            "foreground_top": top, "foreground_left": left,
            "foreground_width": right - left, "foreground_height": bottom - top,
        }}, headers=headers)
    ext = "zip" if req.format == "zip" else result.format
    headers["Content-Disposition"] = f'inline; filename="no-bg.{ext}"'
    return Response(body, media_type=media, headers=headers)


@router.get("/account", summary="remove.bg-compatible: account balance (nothing is charged)")
async def account(request: Request, backend: BackendDep) -> JSONResponse:
    _auth(request)
    return JSONResponse({"data": {"attributes": {
        "credits": {"total": CREDITS, "subscription": CREDITS, "payg": 0, "enterprise": 0},
        "api": {"free_calls": CREDITS, "sizes": "all"},
    }}}, headers=_rate_headers(backend))
