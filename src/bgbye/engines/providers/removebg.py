"""remove.bg: ``POST {BGBYE_REMOVEBG_URL}/removebg`` (default https://api.remove.bg/v1.0).

bgbye asks for ``channels=alpha`` as a PNG and composes backgrounds, crops and formats itself,
so one call serves every output option and results line up pixel for pixel with the input.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from bgbye.engines.providers.base import ProviderClient, ProviderRequest, Upload, header_number

SIZES = ("preview", "full", "50MP", "auto", "medium", "hd", "4k", "small", "regular")


class RemoveBgClient(ProviderClient):
    name = "removebg"
    display_name = "remove.bg"
    key_env = "REMOVE_BG_API_KEY"
    url_env = "BGBYE_REMOVEBG_URL"
    default_url = "https://api.remove.bg/v1.0"
    aliases = ("remove.bg", "remove_bg", "remove-bg")
    dashboard_url = "https://www.remove.bg/dashboard#api-key"
    listing_order = 0
    mask_expected = True
    documented_errors: ClassVar[dict[int, str]] = {
        400: "invalid parameters or input file unprocessable",
        402: "insufficient credits",
        403: "authentication failed",
        429: "rate limit exceeded",
    }

    def __init__(self, *, size: str = "auto", **kwargs: Any):
        if size not in SIZES:
            raise ValueError(f"remove.bg size must be one of {', '.join(SIZES)}")
        super().__init__(**kwargs)
        self.size = size  # auto: the highest resolution the account allows (1 credit)

    def build_request(self, upload: Upload) -> ProviderRequest:
        return ProviderRequest(
            path="/removebg",
            headers={"X-Api-Key": self.api_key, "Accept": "image/*"},
            files={"image_file": (upload.filename, upload.data, upload.content_type)},
            data={"size": self.size, "format": "png", "channels": "alpha", "crop": "false"},
        )

    def error_detail(self, status: int, body: Any, text: str) -> str:
        # {"errors":[{"title": "...", "code": "...", "detail": "..."}]}; code/detail optional.
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list):
            return text if body is None and not text.startswith("<") else ""
        parts = []
        for err in errors:
            if not isinstance(err, dict):
                continue
            words = str(err.get("title") or "")
            if err.get("detail"):
                words = f"{words}: {err['detail']}" if words else str(err["detail"])
            if err.get("code"):
                words = f"{words} [{err['code']}]"
            parts.append(words)
        return "; ".join(p for p in parts if p)

    def read_headers(self, headers: httpx.Headers) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        for key, header in (("credits_charged", "x-credits-charged"),
                            ("ratelimit_limit", "x-ratelimit-limit"),
                            ("ratelimit_remaining", "x-ratelimit-remaining"),
                            ("ratelimit_reset", "x-ratelimit-reset"),
                            ("result_width", "x-width"), ("result_height", "x-height")):
            value = header_number(headers.get(header))
            if value is not None:
                facts[key] = value if key == "credits_charged" else int(value)
        if headers.get("x-type"):
            facts["foreground_type"] = headers["x-type"]
        return facts
