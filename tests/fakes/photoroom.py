"""Fake Photoroom ``POST /v1/segment``, per providers.md §2.3.

Errors are ``{"detail","status_code","type"}`` except 403, which has no body. Keys
``sandbox_<key>`` are accepted (the real sandbox watermarks the colours; alpha is unaffected).
``crop`` and ``despill`` are string booleans.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np
from PIL import Image, ImageColor

from tests.fakes import images
from tests.fakes.server import DROP, FakeRequest, Reply

SIZES = {"preview": 0.25e6, "medium": 1.5e6, "hd": 4e6, "full": 36e6}
CHOICES = {"format": {"png", "jpg", "webp"}, "channels": {"rgba", "alpha"}, "size": set(SIZES),
           "crop": {"true", "false"}, "despill": {"true", "false"}}
FIELDS = set(CHOICES) | {"image_file", "bg_color"}
HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def error(status: int, detail: str, kind: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"detail": detail, "status_code": status, "type": kind}, headers)


def _color(value: str) -> tuple[int, int, int, int] | None:
    if value.startswith("#") and not HEX.match(value):
        return None
    try:
        rgba = ImageColor.getcolor(value, "RGBA")  # '#FF00FF' or an HTML colour name
    except ValueError:
        return None
    return rgba if isinstance(rgba, tuple) and len(rgba) == 4 else None


def _mode_reply(fake: Any, mode: str) -> Reply | None:
    if mode == "402":
        return error(402, "API credits exhausted. Visit https://app.photoroom.com/api-dashboard "
                     "to purchase more API credits", "payment_required")
    if mode == "429":
        return error(429, "Too many requests", "rate_limited",
                     headers={"Retry-After": str(fake.retry_after)})
    if mode == "500":
        return error(500, "An unexpected error occurred", "internal_error")
    if mode == "drop":
        return DROP
    if mode == "garbage":
        return Reply(200, b"\x00" * 64, {"Content-Type": "image/png"})
    if mode == "slow":
        fake.wait(fake.delay)
    return None


def handle(fake: Any, req: FakeRequest) -> Reply:
    if req.path != "/v1/segment":
        return error(404, "Not Found", "not_found")
    if req.method != "POST":
        return error(405, "Method Not Allowed", "method_not_allowed")
    key = req.header("x-api-key")
    if key not in (fake.key, f"sandbox_{fake.key}"):
        return Reply(403)  # documented without a body
    reply = _mode_reply(fake, fake.take_mode())
    if reply is not None:
        return reply
    if req.form_error:
        return error(400, f"Could not parse the body: {req.form_error}", "invalid_body")
    if "image_file" not in req.files:
        return error(400, "Please provide an image.", "missing_image")
    unknown = sorted(req.names - FIELDS)
    if unknown:
        return error(400, f"Unknown field: {unknown[0]}", "invalid_parameter")
    for name, allowed in CHOICES.items():
        if name in req.fields and req.fields[name] not in allowed:
            return error(400, f"Invalid {name}: {req.fields[name]!r}; expected one of "
                         f"{', '.join(sorted(allowed))}", "invalid_parameter")
    upload = req.files["image_file"]
    color = None
    if "bg_color" in req.fields:
        color = _color(req.fields["bg_color"])
        if color is None:
            return error(400, f"Invalid bg_color: {req.fields['bg_color']!r}", "invalid_parameter")
    img = images.open_upload(upload.data)
    if img is None or img.format not in ("JPEG", "PNG", "WEBP"):
        return error(400, "Unsupported image: PNG, JPEG, WEBP or HEIC expected", "invalid_image")
    size = req.fields.get("size", "full")
    if not fake.charge(0.25 if size == "preview" else 1.0):
        return _mode_reply(fake, "402") or Reply(402)
    result: Image.Image = images.cutout(images.scale_to(img.convert("RGB"), SIZES[size]))
    if req.fields.get("crop") == "true":
        left, top, w, h = images.bbox(np.asarray(result.getchannel("A")))
        result = result.crop((left, top, left + w, top + h))
    if color is not None:
        result = images.on_color(result, color)
    if req.fields.get("channels") == "alpha":
        result = result.getchannel("A")
    body, media = images.encode(result, req.fields.get("format", "png"))
    headers = {"x-uncertainty-score": "0.12"}
    if "application/json" in (req.header("accept") or ""):
        payload = {"base64img": base64.b64encode(body).decode()}
        return Reply(200, json.dumps(payload).encode(),
                     {"Content-Type": "application/json", **headers})
    return Reply(200, body, {"Content-Type": media, **headers})
