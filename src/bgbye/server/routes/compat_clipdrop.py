"""Clipdrop's ``POST /remove-background/v1`` and Photoroom's ``POST /v1/segment``, served by bgbye.

Both are thin translations onto ``RemoveOptions`` and the one ``Backend.remove`` path, with
each API's own error shape (Clipdrop ``{"error"}``, Photoroom ``{"detail", "status_code",
"type"}``) and headers. docs/compat.md has the field tables.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from bgbye.errors import BgbyeError
from bgbye.layout import Layout
from bgbye.options import RemoveOptions
from bgbye.server.compat import (
    ANY_TEXT,
    CompatError,
    Fields,
    css_color,
    error_responses,
    parse_bool,
    read_fields,
    upload_bytes,
)
from bgbye.server.deps import BackendDep, require_api_key
from bgbye.server.errors import UnauthorizedError
from bgbye.server.service import Backend

CLIPDROP_PATH = "/remove-background/v1"
PHOTOROOM_PATH = "/v1/segment"
router = APIRouter(tags=["Clipdrop/Photoroom-compatible"])


class ClipdropError(BaseModel):
    error: str


class PhotoroomError(BaseModel):
    detail: str
    status_code: int
    type: str


_ACCEPT = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}
PHOTOROOM_SIZES: dict[str, int | None] = {"preview": 250_000, "medium": 1_500_000,
                                          "hd": 4_000_000, "full": None}
PHOTOROOM_FIELDS = ("image_file", "format", "channels", "bg_color", "size", "crop", "despill")
_STATUS_STATUS = {413: 400, 415: 400, 503: 429}


def clipdrop_envelope(status: int, code: str, message: str, headers: dict[str, str] | None
                      ) -> JSONResponse:
    status = {**_STATUS_STATUS, 422: 400}.get(status, status)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def photoroom_envelope(status: int, code: str, message: str, headers: dict[str, str] | None
                       ) -> JSONResponse:
    status = _STATUS_STATUS.get(status, status)
    return JSONResponse({"detail": message, "status_code": status, "type": code},
                        status_code=status, headers=headers)


def _auth(request: Request) -> None:
    """Both APIs always need ``x-api-key``; it is checked when ``BGBYE_API_KEYS`` is set."""
    if not request.headers.get("x-api-key"):
        raise CompatError("Missing API key: send it in the x-api-key header.",
                          code="unauthorized", http_status=401)
    try:
        require_api_key(request)
    except UnauthorizedError:
        raise CompatError("Invalid API key.", code="forbidden", http_status=403) from None


async def _image(backend: Backend, fields: Fields) -> bytes:
    upload = fields.files.get("image_file")
    if upload is None:
        raise CompatError("image_file: send the image as the multipart field image_file.",
                          code="missing_image_file")
    data = await upload_bytes(backend, upload)
    backend.check_image(data)
    return data


def _unknown(fields: Fields, known: tuple[str, ...]) -> None:
    unknown = fields.unknown(known)
    if unknown:
        raise CompatError(f"Unknown field(s): {', '.join(unknown)}; this endpoint takes "
                          f"{', '.join(known)}.", code="unknown_field")


def _accept_format(request: Request) -> str:
    for part in request.headers.get("accept", "").split(","):
        fmt = _ACCEPT.get(part.split(";")[0].strip().lower())
        if fmt:
            return fmt
    return "png"


@router.post(
    CLIPDROP_PATH,
    summary="Clipdrop-compatible: remove the background of one image",
    description="Clipdrop's remove-background v1: multipart `image_file`; `Accept` picks "
                "image/png (default), image/webp or image/jpeg.",
    response_class=Response,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image_file"], "properties": {
            "image_file": {"type": "string", "format": "binary"},
            "transparency_handling": ANY_TEXT}}}}}},
    responses={200: {"content": {"image/png": {}, "image/webp": {}, "image/jpeg": {}}},
               **error_responses(ClipdropError, "Clipdrop")},
)
async def clipdrop_remove(request: Request, backend: BackendDep) -> Response:
    _auth(request)
    fields = await read_fields(request, backend.settings.max_upload_bytes)
    _unknown(fields, ("image_file", "transparency_handling"))
    handling = fields.get("transparency_handling")
    if handling not in (None, "discard_alpha_layer"):
        raise CompatError(f"transparency_handling={handling!r} is not implemented by bgbye "
                          "(discard_alpha_layer is: the input's alpha is not used).",
                          code="unsupported_option")
    data = await _image(backend, fields)
    result = await backend.remove(backend.engine_ref(), data,
                                  RemoveOptions(format=_accept_format(request)))
    return Response(result.data, media_type=result.media_type,
                    headers={"x-remaining-credits": "1000000", "x-credits-consumed": "0"})


@router.post(
    PHOTOROOM_PATH,
    summary="Photoroom-compatible: segment one image (v1)",
    description="Photoroom's v1 segment: multipart `image_file`, `format`, `channels`, "
                "`bg_color`, `size`, `crop`; `despill` is accepted and not applied. "
                "Accept: application/json answers {\"base64img\"}.",
    response_class=Response,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image_file"], "properties": {
            "image_file": {"type": "string", "format": "binary"},
            **{name: ANY_TEXT for name in PHOTOROOM_FIELDS[1:]}}}}}}},
    responses={200: {"content": {"image/png": {}, "image/webp": {}, "image/jpeg": {},
                                 "application/json": {}}},
               **error_responses(PhotoroomError, "Photoroom")},
)
async def photoroom_segment(request: Request, backend: BackendDep) -> Response:
    _auth(request)
    fields = await read_fields(request, backend.settings.max_upload_bytes)
    _unknown(fields, PHOTOROOM_FIELDS)
    fmt = (fields.get("format") or "png").lower()
    channels = (fields.get("channels") or "rgba").lower()
    size = (fields.get("size") or "full").lower()
    if fmt not in ("png", "jpg", "jpeg", "webp"):
        raise CompatError(f"format {fmt!r}: choose png, jpg or webp.", code="invalid_format")
    if channels not in ("rgba", "alpha"):
        raise CompatError(f"channels {channels!r}: choose rgba or alpha.",
                          code="invalid_channels")
    if size not in PHOTOROOM_SIZES:
        raise CompatError(f"size {size!r}: choose preview, medium, hd or full.",
                          code="invalid_size")
    crop = parse_bool("crop", fields.get("crop"), False, "invalid_crop")
    parse_bool("despill", fields.get("despill"), False, "invalid_despill")  # not applied
    bg_color = fields.get("bg_color")
    if bg_color is not None:
        bg_color = css_color(bg_color, "invalid_bg_color")
    try:
        options = RemoveOptions(format=fmt, mask_only=channels == "alpha", bg_color=bg_color,
                                layout=Layout(max_pixels=PHOTOROOM_SIZES[size], crop=crop))
    except BgbyeError as exc:
        raise CompatError(exc.message, code="invalid_option") from None
    data = await _image(backend, fields)
    result = await backend.remove(backend.engine_ref(), data, options)
    if "application/json" in request.headers.get("accept", "").lower():
        return JSONResponse({"base64img": base64.b64encode(result.data).decode("ascii")})
    return Response(result.data, media_type=result.media_type)
