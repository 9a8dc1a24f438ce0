"""Request dependencies shared by routers: the backend, API-key auth, uploads and options."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.dependencies.models import Dependant
from starlette.datastructures import UploadFile as StarletteUpload

from bgbye.errors import EmptyInputError, ImageTooLargeError, InvalidOptionError
from bgbye.options import MAX_MARGIN, RemoveOptions
from bgbye.server.errors import UnauthorizedError
from bgbye.server.service import Backend


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]


def require_api_key(request: Request) -> None:
    """When ``BGBYE_API_KEYS`` is set, every call needs a matching ``X-API-Key``.

    Every key is compared in constant time (no early exit), so timing reveals nothing; the key
    itself is never logged.
    """
    keys = get_backend(request).settings.api_key_list
    if not keys:
        return
    given = request.headers.get("x-api-key", "").encode()
    match = False
    for key in keys:
        match |= hmac.compare_digest(given, key.encode())
    if not match:
        raise UnauthorizedError("A valid X-API-Key header is required.")


async def read_upload(upload: StarletteUpload, max_bytes: int, what: str = "image") -> bytes:
    """Read an uploaded file, refusing one over the byte limit before reading it whole."""
    if upload.size is not None and upload.size > max_bytes:
        raise ImageTooLargeError(
            f"The {what} {upload.filename or ''} is {upload.size:,} bytes; "
            f"the limit is {max_bytes:,} bytes.".replace("  ", " "))
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"The {what} is larger than the limit of {max_bytes:,} bytes.")
    if not data:
        raise EmptyInputError(f"The {what} {upload.filename or ''} is empty (0 bytes).".replace(
            "  ", " "))
    return data


def _doc(field: str) -> str | None:
    """The form field's description is the options model's own."""
    return RemoveOptions.model_fields[field].description


async def remove_options(
    request: Request,
    format: Annotated[Literal["png", "webp", "jpg", "jpeg"], Form(
        description=_doc("format"))] = "png",
    mask_only: Annotated[bool, Form(description=_doc("mask_only"))] = False,
    bg_color: Annotated[str | None, Form(description=_doc("bg_color"))] = None,
    bg_image: Annotated[UploadFile | None, File(description=_doc("bg_image"))] = None,
    crop: Annotated[bool, Form(description=_doc("crop"))] = False,
    margin: Annotated[int, Form(ge=0, le=MAX_MARGIN, description=_doc("margin"))] = 0,
    refine: Annotated[bool, Form(description=_doc("refine"))] = False,
) -> RemoveOptions:
    """The form fields of bgbye's routes, as the one options model (validated here, once)."""
    backend = get_backend(request)
    bg = None
    if bg_image is not None and (bg_image.filename or bg_image.size):
        bg = await read_upload(bg_image, backend.settings.max_upload_bytes, "background image")
        backend.check_image(bg)
    return RemoveOptions(format=format, mask_only=mask_only, bg_color=bg_color, crop=crop,
                         margin=margin, refine=refine, bg_image=bg)


OptionsDep = Annotated[RemoveOptions, Depends(remove_options)]


def _declared(dependant: Dependant) -> tuple[set[str], set[str]]:
    """(query names, body field names) a route declares, through all its dependencies."""
    query = {p.alias for p in dependant.query_params}
    body = {p.alias for p in dependant.body_params}
    for sub in dependant.dependencies:
        q, b = _declared(sub)
        query |= q
        body |= b
    return query, body


async def reject_unknown_fields(request: Request) -> None:
    """bgbye's own routes refuse fields they do not know (422 naming them) instead of
    ignoring them: ``POST /v1/remove?om=true`` must not answer a normal cut-out."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    query, body = _declared(dependant)
    unknown = sorted(set(request.query_params) - query)
    ctype = request.headers.get("content-type", "")
    if body and ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()  # parsed once: FastAPI's own parse is cached on request
        unknown += sorted(set(form) - body - set(unknown))
    if unknown:
        names = ", ".join(unknown)
        raise InvalidOptionError(f"Unknown field(s): {names}. This route takes "
                                 f"{', '.join(sorted(query | body)) or 'no fields'}.",
                                 code="unknown_field")
