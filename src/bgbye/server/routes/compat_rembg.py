"""rembg's server API (``rembg s``): ``POST /api/remove`` and ``GET /api/remove?url=``.

A translation onto bgbye's ``RemoveOptions`` and the one ``Backend.remove`` path. rembg's options
that bgbye does not implement (alpha matting ``a``, ``ppm``, ``extras``) are refused with a
422 that names them, never silently ignored. Errors keep FastAPI's ``{"detail": ...}`` shape,
which is what rembg's server answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from bgbye.errors import BgbyeError, InvalidOptionError, UnknownModelError
from bgbye.options import RemoveOptions
from bgbye.server.compat import (
    ANY_TEXT,
    CompatError,
    Fields,
    error_responses,
    parse_bool,
    read_fields,
    upload_bytes,
)
from bgbye.server.deps import BackendDep, require_api_key
from bgbye.server.service import Backend
from bgbye.server.urlfetch import fetch_image


class RembgError(BaseModel):
    detail: str


PREFIX = "/api/remove"
router = APIRouter(tags=["rembg-compatible"], responses=error_responses(RembgError, "rembg"))

OPTIONS = ("model", "a", "af", "ab", "ae", "om", "ppm", "bgc", "extras")
# Accepted with rembg's ranges; without ``a`` they do nothing in rembg either.
_MATTING_LIMITS = {"af": (0, 255), "ab": (0, 255), "ae": (0, None)}


def envelope(status: int, code: str, message: str, headers: dict[str, str] | None
             ) -> JSONResponse:
    """FastAPI's default error shape, as ``rembg s`` answers."""
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _unsupported(name: str, what: str) -> CompatError:
    return CompatError(f"{name} ({what}) is not implemented by bgbye; leave it unset.",
                       code="unsupported_option", http_status=422)


def _bgc(value: str) -> str:
    """rembg's ``R,G,B,A`` (0-255 each) as bgbye's hex colour."""
    try:
        parts = [int(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (3, 4) or not all(0 <= p <= 255 for p in parts):
        raise CompatError(f"bgc: {value!r} must be R,G,B,A with values 0-255.",
                          code="invalid_option", http_status=422)
    return "".join(f"{p:02x}" for p in parts)


def to_options(fields: Fields, source: str) -> tuple[str | None, RemoveOptions]:
    """(model or None for the default, options) for rembg's fields."""
    unknown = fields.unknown((*OPTIONS, source))
    if unknown:
        raise CompatError(f"Unknown field(s): {', '.join(unknown)}. rembg's API takes "
                          f"{', '.join((source, *OPTIONS))}.", code="unknown_field",
                          http_status=422)
    if parse_bool("a", fields.get("a"), False, "invalid_option"):
        raise _unsupported("a", "alpha matting")
    if parse_bool("ppm", fields.get("ppm"), False, "invalid_option"):
        raise _unsupported("ppm", "post-process mask")
    extras = fields.get("extras")
    if extras and extras.strip() not in ("{}", "null"):
        raise _unsupported("extras", "model-specific parameters")
    for name, (low, high) in _MATTING_LIMITS.items():
        text = fields.get(name)
        if text is None:
            continue
        if not text.lstrip("-").isdigit() or int(text) < low or (high and int(text) > high):
            raise CompatError(f"{name} must be an integer from {low} to {high or 'any'}.",
                              code="invalid_option", http_status=422)
    bgc = fields.get("bgc")
    mask_only = parse_bool("om", fields.get("om"), False, "invalid_option")
    try:
        options = RemoveOptions(format="png", mask_only=mask_only,
                                bg_color=_bgc(bgc) if bgc else None)
    except BgbyeError as exc:
        raise CompatError(exc.message, code="invalid_option", http_status=422) from None
    return fields.get("model"), options


async def _run(backend: Backend, model: str | None, data: bytes, options: RemoveOptions
               ) -> Response:
    try:
        ref = backend.engine_ref(model=model)
    except (UnknownModelError, InvalidOptionError) as exc:
        raise CompatError(f"model: {exc.message}", code="invalid_option",
                          http_status=422) from None
    backend.check_image(data)
    result = await backend.remove(ref, data, options)
    return Response(result.data, media_type=result.media_type)


_PARAMS: list[dict[str, Any]] = [
    {"name": name, "in": "query", "required": False, "schema": ANY_TEXT}
    for name in OPTIONS
]


@router.post(
    PREFIX,
    summary="rembg-compatible: remove the background of an uploaded image",
    description="rembg's `POST /api/remove` (multipart `file`; `model`, `om`, `bgc` as "
                "R,G,B,A; `a`/`ppm`/`extras` are refused with 422). Always a PNG.",
    response_class=Response,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"},
            **{name: ANY_TEXT for name in OPTIONS}}}}}}},
    responses={200: {"content": {"image/png": {}}}},
)
async def remove_upload(request: Request, backend: BackendDep) -> Response:
    require_api_key(request)
    fields = await read_fields(request, backend.settings.max_upload_bytes, query=True)
    model, options = to_options(fields, "file")
    upload = fields.files.get("file")
    if upload is None:
        raise CompatError("file: send the image as the multipart field `file`.",
                          code="missing_field", http_status=422)
    return await _run(backend, model, await upload_bytes(backend, upload), options)


@router.get(
    PREFIX,
    summary="rembg-compatible: remove the background of the image at a URL",
    response_class=Response,
    openapi_extra={"parameters": [
        {"name": "url", "in": "query", "required": True, "schema": {"type": "string"}},
        *_PARAMS]},
    responses={200: {"content": {"image/png": {}}}},
)
async def remove_url(request: Request, backend: BackendDep) -> Response:
    require_api_key(request)
    fields = await read_fields(request, backend.settings.max_upload_bytes, query=True)
    model, options = to_options(fields, "url")
    url = fields.get("url")
    if not url:
        raise CompatError("url: this query parameter is required.", code="missing_field",
                          http_status=422)
    return await _run(backend, model, await fetch_image(url, backend.settings), options)
