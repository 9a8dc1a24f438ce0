"""remove.bg's API v1.0 (``POST /v1.0/removebg``, ``GET /v1.0/account``), served by bgbye.

A translation (fields parsed in ``server/removebg_fields.py``) onto bgbye's ``RemoveOptions``
(+ ``Layout`` for roi/crop/scale/position/size) and the one ``Backend.remove`` path; fields,
codes and headers follow remove.bg's published contract (docs/compat.md has the field table).
Point a remove.bg client's base URL at ``http://HOST:PORT/v1.0``.
"""

from __future__ import annotations

import base64
import io
import time
import zipfile
from typing import Any

import cv2
import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from bgbye import imageio
from bgbye.errors import BgbyeError, EmptyInputError, ImageTooLargeError, InvalidImageError
from bgbye.remover import RemoveResult
from bgbye.server.compat import (
    ANY_TEXT,
    CompatError,
    Fields,
    decode_b64,
    error_responses,
    read_fields,
)
from bgbye.server.deps import BackendDep, require_api_key
from bgbye.server.errors import UnauthorizedError
from bgbye.server.removebg_fields import FIELDS, RemoveBgRequest, parse_fields, to_options
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


# -- bytes out -------------------------------------------------------------------------------

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
    if result.foreground is None:  # remove.bg answers this rather than an empty picture
        raise CompatError("No foreground was found in the image (nothing is left opaque).",
                          code="unknown_foreground")
    headers = {**_result_headers(req, result), **_rate_headers(backend)}
    body, media = result.data, result.media_type
    if req.format == "zip":
        body, media = await run_in_threadpool(_zip, result), "application/zip"  # not on the loop
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
