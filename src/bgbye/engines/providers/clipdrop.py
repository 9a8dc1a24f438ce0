"""Clipdrop: ``POST {BGBYE_CLIPDROP_URL}/remove-background/v1`` (default https://clipdrop-api.co).

The output format is chosen by the ``Accept`` header; bgbye asks for PNG (the only one of
Clipdrop's formats besides WebP with transparency) and reads its alpha channel.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from bgbye.engines.providers.base import ProviderClient, ProviderRequest, Upload, header_number


class ClipdropClient(ProviderClient):
    name = "clipdrop"
    display_name = "Clipdrop"
    key_env = "CLIPDROP_API_KEY"
    url_env = "BGBYE_CLIPDROP_URL"
    default_url = "https://clipdrop-api.co"
    dashboard_url = "https://clipdrop.co/apis/account"
    listing_order = 1
    documented_errors: ClassVar[dict[int, str]] = {
        400: "request is malformed or incomplete (missing image_file, invalid format, "
             "resolution too big)",
        401: "missing api key",
        402: "your account has no remaining credits, you can buy more in your account page",
        403: "invalid or revocated api key",
        406: "Accept header not acceptable",
        429: "too many requests, blocked by the rate limiter",
        500: "this may be a bug on Clipdrop's side",
    }

    def build_request(self, upload: Upload) -> ProviderRequest:
        return ProviderRequest(
            path="/remove-background/v1",
            headers={"x-api-key": self.api_key, "Accept": "image/png"},
            files={"image_file": (upload.filename, upload.data, upload.content_type)},
        )

    def error_detail(self, status: int, body: Any, text: str) -> str:
        # {"error": "No api key provided"}
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
        return text if body is None and not text.startswith("<") else ""

    def read_headers(self, headers: httpx.Headers) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        consumed = header_number(headers.get("x-credits-consumed"))
        remaining = header_number(headers.get("x-remaining-credits"))
        if consumed is not None:
            facts["credits_charged"] = consumed
        if remaining is not None:
            facts["credits_remaining"] = remaining
        return facts
