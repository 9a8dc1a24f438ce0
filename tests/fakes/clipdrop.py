"""Fake Clipdrop ``POST /remove-background/v1``, per providers.md §2.2.

Error bodies are ``{"error": "..."}`` with the messages Clipdrop documents per status. The output
format comes from ``Accept``; results keep the input's size; an input that already has
transparency comes back unchanged (the default ``transparency_handling``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.fakes import images
from tests.fakes.server import DROP, FakeRequest, Reply

MESSAGES = {
    400: "Request is malformed or incomplete",
    401: "No api key provided",
    402: "Your account has no remaining credits, you can buy more in your account page",
    403: "Invalid or revocated api key",
    406: "Accept header not acceptable",
    429: "Too many requests, blocked by the rate limiter. You should space out your requests "
         "in time or contact us to increase your quota",
    500: "This may be a bug on our side. Please contact us at contact@clipdrop.co so that we "
         "can investigate.",
}
ACCEPT = {"image/png": "png", "image/webp": "webp", "image/jpg": "jpg", "image/jpeg": "jpg",
          "image/*": "png", "*/*": "png"}
TRANSPARENCY = {"return_input_if_non_opaque", "discard_alpha_layer"}
MAX_BYTES = 30 * 1024 * 1024
MAX_PIXELS = 25e6


def error(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"error": message or MESSAGES[status]}, headers)


def _output_format(accept: str | None) -> str | None:
    if not accept:
        return "png"
    for item in accept.split(","):
        fmt = ACCEPT.get(item.split(";")[0].strip().lower())
        if fmt:
            return fmt
    return None


def _mode_reply(fake: Any, mode: str) -> Reply | None:
    if mode in ("402", "429", "500"):
        status = int(mode)
        wait = {"Retry-After": str(fake.retry_after)} if status == 429 else None
        return error(status, headers=wait)
    if mode == "drop":
        return DROP
    if mode == "garbage":
        return Reply(200, b"<html>upstream hiccup</html>", {"Content-Type": "image/png"})
    if mode == "slow":
        fake.wait(fake.delay)
    return None


def handle(fake: Any, req: FakeRequest) -> Reply:
    if req.path != "/remove-background/v1":
        return error(404, f"Not found: {req.path}")
    if req.method != "POST":
        return error(405, "Method not allowed")
    key = req.header("x-api-key")
    if not key:
        return error(401)
    if key != fake.key:
        return error(403)
    fmt = _output_format(req.header("accept"))
    if fmt is None:
        return error(406)
    reply = _mode_reply(fake, fake.take_mode())
    if reply is not None:
        return reply
    if req.form_error or not (req.header("content-type") or "").startswith("multipart/form-data"):
        return error(400, f"{MESSAGES[400]}: the body must be multipart/form-data")
    upload = req.files.get("image_file")
    if upload is None:
        return error(400, f"{MESSAGES[400]}: missing image_file")
    unknown = req.names - {"image_file", "transparency_handling"}
    if unknown:
        return error(400, f"{MESSAGES[400]}: unknown field(s) {', '.join(sorted(unknown))}")
    handling = req.fields.get("transparency_handling", "return_input_if_non_opaque")
    if handling not in TRANSPARENCY:
        return error(400, f"{MESSAGES[400]}: invalid transparency_handling {handling!r}")
    if len(upload.data) > MAX_BYTES:
        return error(400, f"{MESSAGES[400]}: file larger than 30 MB")
    img = images.open_upload(upload.data)
    if img is None or img.format not in ("JPEG", "PNG", "WEBP"):
        return error(400, f"{MESSAGES[400]}: invalid format (PNG, JPG or WEBP expected)")
    if img.width * img.height > MAX_PIXELS:
        return error(400, f"{MESSAGES[400]}: resolution too big (max 25 megapixels)")
    if not fake.charge(1.0):
        return error(402)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if (handling == "return_input_if_non_opaque" and has_alpha
            and int(np.asarray(img.convert("RGBA"))[:, :, 3].min()) < 255):
        body, media = upload.data, upload.content_type or "image/png"
    else:
        body, media = images.encode(images.cutout(img.convert("RGB")), fmt)
    return Reply(200, body, {"Content-Type": media, "x-credits-consumed": "1",
                             "x-remaining-credits": str(int(fake.credits))})
