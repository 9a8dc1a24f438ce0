"""Photoroom Remove Background: ``POST {BGBYE_PHOTOROOM_URL}/v1/segment``
(default https://sdk.photoroom.com). Keys starting ``sandbox_`` are free and watermarked.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from bgbye.engines.providers.base import ProviderClient, ProviderRequest, Upload, header_number

SIZES = ("preview", "medium", "hd", "full")


class PhotoroomClient(ProviderClient):
    name = "photoroom"
    display_name = "Photoroom"
    key_env = "PHOTOROOM_API_KEY"
    url_env = "BGBYE_PHOTOROOM_URL"
    default_url = "https://sdk.photoroom.com"
    aliases = ("photo room",)
    dashboard_url = "https://app.photoroom.com/api-dashboard"
    listing_order = 2
    mask_expected = True
    documented_errors: ClassVar[dict[int, str]] = {
        400: "the request or image was refused",
        402: "API credits exhausted",
        403: "Forbidden (invalid API key)",
        429: "rate limit reached (500 images per minute by default)",
    }

    def __init__(self, *, size: str = "full", **kwargs: Any):
        if size not in SIZES:
            raise ValueError(f"Photoroom size must be one of {', '.join(SIZES)}")
        super().__init__(**kwargs)
        self.size = size
        if self.api_key.startswith("sandbox_"):
            self.label = "Photoroom (sandbox key)"

    def build_request(self, upload: Upload) -> ProviderRequest:
        return ProviderRequest(
            path="/v1/segment",
            headers={"x-api-key": self.api_key, "Accept": "image/png"},
            files={"image_file": (upload.filename, upload.data, upload.content_type)},
            # String booleans, as the OpenAPI spec has them.
            data={"format": "png", "channels": "alpha", "size": self.size, "crop": "false"},
        )

    def error_detail(self, status: int, body: Any, text: str) -> str:
        # v1: {"detail", "status_code", "type"}; v2 style: {"error": {"message"|"detail"}}.
        if isinstance(body, dict):
            if isinstance(body.get("detail"), str):
                kind = body.get("type")
                return f"{body['detail']} [{kind}]" if kind else str(body["detail"])
            err = body.get("error")
            if isinstance(err, dict):
                return str(err.get("message") or err.get("detail") or "")
            if isinstance(err, str):
                return err
            return ""
        return text if not text.startswith("<") else ""

    def read_headers(self, headers: httpx.Headers) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        score = header_number(headers.get("x-uncertainty-score"))
        if score is not None:
            facts["uncertainty_score"] = score  # 0 = confident; -1 = humans detected
        if self.api_key.startswith("sandbox_"):
            facts["sandbox"] = True
        return facts
