"""What the compatible APIs (remove.bg, rembg, Clipdrop, Photoroom) share.

Each of them is a thin translation: read the fields the emulated API defines (multipart,
urlencoded or JSON bodies, as that API accepts), map them onto bgbye's ``Options`` and run the
one ``Backend.remove`` -> ``Remover`` path. Every field is known or refused: nothing is
silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from PIL import ImageColor
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from bgbye.errors import BgbyeError
from bgbye.server.deps import read_upload
from bgbye.server.service import Backend

_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


class CompatError(BgbyeError):
    """A request refused with the emulated API's own error code (``code``)."""

    http_status = 400


@dataclass
class Fields:
    """A request's fields: text values (``""`` already dropped: it means unset) and files."""

    values: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadFile] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def names(self) -> set[str]:
        return {*self.values, *self.files}

    def unknown(self, known: Iterable[str]) -> list[str]:
        return sorted(self.names() - set(known))


def _text(value: Any) -> str | None:
    """A JSON value as the text a form would carry; None and "" mean unset."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    raise CompatError(f"Field values must be strings, numbers or booleans, not {value!r}.",
                      code="invalid_request")


async def read_fields(request: Request, max_bytes: int, *, query: bool = False,
                      bad_body: str = "invalid_request") -> Fields:
    """The body's fields, whatever the body type; with ``query`` the query string's too."""
    fields = Fields()
    if query:
        for key, value in request.query_params.multi_items():
            if value.strip():
                fields.values[key] = value.strip()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CompatError(f"The JSON body is not valid JSON: {exc}", code=bad_body) from exc
        if not isinstance(body, dict):
            raise CompatError("The JSON body must be an object.", code=bad_body)
        for key, value in body.items():
            text = _text(value)
            if text is not None:
                fields.values[str(key)] = text
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # Base64 images travel as text fields: allow them as large as an image's base64.
        form = await request.form(max_files=8, max_fields=64,
                                  max_part_size=max_bytes * 4 // 3 + 4096)
        for key, item in form.multi_items():
            if isinstance(item, UploadFile):
                if item.filename or item.size:
                    fields.files[key] = item
            elif item.strip():
                fields.values[key] = item.strip()
    return fields


def parse_bool(name: str, value: str | None, default: bool, code: str) -> bool:
    """Every spelling clients send: true/false, True/False, 1/0, yes/no, on/off."""
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise CompatError(f"{name} must be true or false, not {value!r}.", code=code)


def decode_b64(value: str) -> bytes:
    """Base64 (standard or URL-safe, padding optional, ``data:`` URL prefix allowed)."""
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    compact = "".join(value.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CompatError(f"The base64 image could not be decoded: {exc}",
                          code="failed_to_read_image") from exc


async def upload_bytes(backend: Backend, upload: UploadFile, what: str = "image") -> bytes:
    return await read_upload(upload, backend.settings.max_upload_bytes, what)



def error_responses(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a compatible route: its errors in the emulated API's shape
    (replacing the app-wide ``{"error": ...}`` declaration, 422 included)."""
    entry = {"model": model, "description": f"Refused, in {what}'s error shape."}
    return {"4XX": entry, 422: entry, "5XX": entry}


# Form fields of the compatible APIs as OpenAPI documents them: text the route parses itself
# ("" is unset, booleans in every client's spelling), so the schema constrains no type.
ANY_TEXT: dict[str, Any] = {"description": "Text; see docs/compat.md for the values."}


_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def css_color(value: str, code: str) -> str:
    """A colour as the emulated APIs take it: hex (3/4/6/8 digits, ``#`` optional) or any CSS
    colour name (``lightblue``, ``green`` = 008000 as in CSS), as bgbye's hex."""
    value = value.strip()
    if _HEX_COLOR.match(value):
        return value.lstrip("#")
    try:
        rgb = ImageColor.getrgb(value) if value.isalpha() else None
    except ValueError:
        rgb = None
    if rgb is None:
        raise CompatError(f"Invalid colour {value!r}: use hex like 81d4fa, fff or 81d4fa80, or a "
                          "colour name such as lightblue.", code=code)
    return "".join(f"{c:02x}" for c in rgb)
