"""Fake remove.bg ``POST /v1.0/removebg`` and ``GET /v1.0/account``, per providers.md §2.1.

Statuses and error bodies are the documented ones (``{"errors":[{"title","code"?,"detail"?}]}``).
Where the docs give no wording (a bad ``size`` value, an unknown field) the titles are ours; the
fake refuses unknown fields, which is stricter than the service is known to be, so a client typo
cannot slip through.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import numpy as np
from PIL import ImageColor

from tests.fakes import images
from tests.fakes.server import DROP, FakeRequest, Reply

SIZES = {"preview": 0.25e6, "small": 0.25e6, "regular": 0.25e6, "medium": 1.5e6, "hd": 4e6,
         "full": 25e6, "4k": 25e6, "auto": 25e6, "50MP": 50e6}
PNG_MAX = 10e6
CHOICES = {
    "size": set(SIZES),
    "type": {"auto", "person", "product", "animal", "car", "graphic", "transportation"},
    "type_level": {"none", "1", "2", "latest"},
    "format": {"auto", "png", "webp", "jpg", "zip"},
    "channels": {"rgba", "alpha"},
    "crop": {"true", "false"},
    "add_shadow": {"true", "false"},
    "semitransparency": {"true", "false"},
}
FREE_FORM = {"roi", "crop_margin", "scale", "position", "bg_color", "bg_image_url",
             "shadow_type", "shadow_opacity"}
SOURCES = ("image_file", "image_file_b64", "image_url")
FIELDS = set(CHOICES) | FREE_FORM | set(SOURCES) | {"bg_image_file"}
COLOR_NAMES = {"white", "black", "red", "green", "blue", "yellow", "gray", "grey", "orange",
               "purple", "pink", "brown", "transparent"}
HEX = re.compile(r"^(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
MAX_BYTES = 22 * 1024 * 1024
MAX_PIXELS = 50e6


def error(status: int, title: str, code: str | None = None, detail: str | None = None,
          headers: dict[str, str] | None = None) -> Reply:
    err: dict[str, str] = {"title": title}
    if code:
        err["code"] = code
    if detail:
        err["detail"] = detail
    return Reply.json(status, {"errors": [err]}, headers)


def ratelimit_headers(fake: Any, remaining: int | None = None) -> dict[str, str]:
    left = fake.ratelimit_remaining if remaining is None else remaining
    return {"X-RateLimit-Limit": str(fake.ratelimit_limit), "X-RateLimit-Remaining": str(left),
            "X-RateLimit-Reset": str(int(time.time()) + 60)}


def _color(value: str) -> tuple[int, int, int, int] | None:
    v = value.strip().lower()
    if v == "transparent":
        return 0, 0, 0, 0
    if v in COLOR_NAMES:
        r, g, b = ImageColor.getrgb(v)[:3]
        return r, g, b, 255
    if not HEX.match(v):  # no '#': remove.bg wants bare hex
        return None
    if len(v) in (3, 4):
        v = "".join(c * 2 for c in v)
    a = int(v[6:8], 16) if len(v) == 8 else 255
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16), a


def _authorised(fake: Any, req: FakeRequest) -> Reply | None:
    key = req.header("x-api-key")
    bearer = req.header("authorization") or ""
    if key is None and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    if not key:
        return error(403, "Missing API Key", "auth_failed")
    if key != fake.key:
        return error(403, "API Key invalid", "auth_failed")
    return None


def _mode_reply(fake: Any, mode: str) -> Reply | None:
    if mode == "402":
        return error(402, "Insufficient credits", "insufficient_credits")
    if mode == "429":
        return error(429, "Rate limit exceeded", "rate_limit_exceeded",
                     headers={"Retry-After": str(fake.retry_after), **ratelimit_headers(fake, 0)})
    if mode == "500":
        return error(500, "Internal server error", "internal_error")
    if mode == "drop":
        return DROP
    if mode == "garbage":
        return Reply(200, b"\x89PNG\r\n\x1a\n not really a png", {"Content-Type": "image/png"})
    if mode == "slow":
        fake.wait(fake.delay)
    return None


def _validate(req: FakeRequest) -> Reply | None:
    if req.form_error:
        return error(400, f"Could not parse the request body: {req.form_error}", "invalid_body")
    for name in sorted(req.names):
        base = name.split("[", 1)[0]  # shadow_type[car]=...
        if base not in FIELDS:
            return error(400, f"Unknown parameter: {name}", "unknown_parameter")
        if base in CHOICES and req.fields.get(name) not in CHOICES[base]:
            return error(400, f"Invalid value for parameter {name}: {req.fields.get(name)!r}",
                         "invalid_parameter",
                         f"Allowed values: {', '.join(sorted(CHOICES[base]))}")
    given = [s for s in SOURCES if s in req.names]
    if not given:
        return error(400, "No image given. Provide image_file, image_file_b64 or image_url.",
                     "missing_source")
    if len(given) > 1:
        return error(400, "Multiple image sources given: choose one of " + ", ".join(given),
                     "multiple_sources")
    if "bg_color" in req.fields and _color(req.fields["bg_color"]) is None:
        return error(400, f"Invalid bg_color: {req.fields['bg_color']!r}", "invalid_parameter",
                     "Use a hex code without '#' (81d4fa, fff, 81d4fa77) or a colour name.")
    if sum(k in req.names for k in ("bg_color", "bg_image_url", "bg_image_file")) > 1:
        return error(400, "Only one of bg_color, bg_image_url, bg_image_file may be given",
                     "invalid_parameter")
    if "crop_margin" in req.fields and req.fields.get("crop") != "true":
        return error(400, "crop_margin requires crop=true", "invalid_parameter")
    return None


def _source_bytes(req: FakeRequest) -> bytes | Reply:
    if "image_url" in req.fields:
        return error(400, "Failed to download image from given image_url: HTTP Status 404")
    if "image_file_b64" in req.fields:
        try:
            return base64.b64decode(req.fields["image_file_b64"], validate=True)
        except ValueError:
            return error(400, "image_file_b64 is not valid base64", "invalid_file_type")
    upload = req.files.get("image_file")
    if upload is None:  # sent as a text field
        return error(400, "image_file must be a file upload", "invalid_file_type")
    return upload.data


def _segment(fake: Any, req: FakeRequest) -> Reply:
    data = _source_bytes(req)
    if isinstance(data, Reply):
        return data
    if len(data) > MAX_BYTES:
        return error(400, "File too large", "file_too_large", "File exceeds limit of 22MB")
    img = images.open_upload(data)
    if img is None or img.format not in ("JPEG", "PNG", "WEBP"):
        return error(400, "Invalid file type: only JPG, PNG and WebP are supported",
                     "invalid_file_type")
    if img.width * img.height > MAX_PIXELS:
        return error(400, "Input image resolution too high (max 50 megapixels)",
                     "resolution_too_high")
    if float(np.asarray(img.convert("L")).std()) < 2.0:
        return error(400, "Could not identify foreground in image. For details and "
                     "recommendations see https://www.remove.bg/supported-images.",
                     "unknown_foreground")
    size = req.fields.get("size", "preview")
    fmt = req.fields.get("format", "auto")
    limit = SIZES[size]
    if fmt in ("png", "auto"):
        limit = min(limit, PNG_MAX)
    charged = 0.25 if SIZES[size] <= 0.25e6 else 1.0
    if not fake.charge(charged):
        return error(402, "Insufficient credits", "insufficient_credits")
    result = images.cutout(images.scale_to(img.convert("RGB"), limit))
    alpha = np.asarray(result.getchannel("A"))
    left, top, fg_w, fg_h = images.bbox(alpha)
    if req.fields.get("crop") == "true":
        result = result.crop((left, top, left + fg_w, top + fg_h))
        left, top = 0, 0
    color = _color(req.fields["bg_color"]) if "bg_color" in req.fields else None
    if color is not None:
        result = images.on_color(result, color)
    opaque = color is not None and color[3] == 255
    if fmt == "auto":
        fmt = "jpg" if opaque else "png"
    if req.fields.get("channels") == "alpha":
        result = result.getchannel("A")
    if fmt == "zip":
        body, media = images.removebg_zip(result.convert("RGBA")), "application/zip"
    else:
        body, media = images.encode(result, fmt)
    headers = {
        "X-Credits-Charged": str(charged), "X-Type": "product",
        "X-Width": str(result.width), "X-Height": str(result.height),
        "X-Foreground-Top": str(top), "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(fg_w), "X-Foreground-Height": str(fg_h),
        "X-Max-Width": str(result.width), "X-Max-Height": str(result.height),
        **ratelimit_headers(fake),
    }
    if "application/json" in (req.header("accept") or ""):
        payload = {"data": {"result_b64": base64.b64encode(body).decode(),
                            "foreground_top": top, "foreground_left": left,
                            "foreground_width": fg_w, "foreground_height": fg_h}}
        return Reply(200, json.dumps(payload).encode(),
                     {"Content-Type": "application/json", **headers})
    return Reply(200, body, {"Content-Type": media, **headers})


def handle(fake: Any, req: FakeRequest) -> Reply:
    if req.path == "/v1.0/account" and req.method == "GET":
        return _authorised(fake, req) or Reply.json(200, {"data": {"attributes": {
            "credits": {"total": fake.credits, "subscription": fake.credits, "payg": 0,
                        "enterprise": 0},
            "api": {"free_calls": 50, "sizes": "all"}}}})
    if req.path != "/v1.0/removebg":
        return error(404, f"Not found: {req.method} {req.path}", "not_found")
    if req.method != "POST":
        return error(405, "Method not allowed", "method_not_allowed")
    denied = _authorised(fake, req)
    if denied:
        return denied
    reply = _mode_reply(fake, fake.take_mode())
    if reply is not None:
        return reply
    return _validate(req) or _segment(fake, req)
