"""Every documented error status of every provider, as the user sees it: class, code, our HTTP
status, and a message that names the provider, the cause and what to do."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bgbye.engines.providers.base import ProviderClient, ProviderRequest, Upload
from bgbye.engines.providers.errors import (
    ProviderAuthError,
    ProviderBadResponseError,
    ProviderCallError,
    ProviderCreditsError,
    ProviderRateLimitError,
    ProviderRejectedImageError,
    ProviderUnavailableError,
)
from bgbye.errors import ProviderError
from tests.engines.providers.conftest import ClientFactory, FakeClock, jpeg_bytes
from tests.fakes import running_fake


def _call(client: ProviderClient, rgb: np.ndarray, data: bytes | None) -> ProviderCallError:
    with pytest.raises(ProviderError) as info:
        client.predict(rgb, source=data)
    assert isinstance(info.value, ProviderCallError)
    return info.value


def _tamper(client: ProviderClient, change: Callable[[ProviderRequest], None]) -> None:
    """Make the client send a broken request, as a client bug would."""
    build = client.build_request

    def broken(upload: Upload) -> ProviderRequest:
        req = build(upload)
        change(req)
        return req

    client.build_request = broken  # type: ignore[method-assign]


def _drop_header(name: str) -> Callable[[ProviderRequest], None]:
    def change(req: ProviderRequest) -> None:
        req.headers = {k: v for k, v in req.headers.items() if k.lower() != name}
    return change


def _rename_image_field(req: ProviderRequest) -> None:
    req.files = {"image": req.files["image_file"]}


# (provider, status, how to provoke it, expected class, code, our status, phrases in the message)
CASES = [
    ("removebg", 400, "uniform", ProviderRejectedImageError, "provider_rejected_image", 422,
     ["remove.bg could not process this image", "HTTP 400",
      "Could not identify foreground in image", "unknown_foreground", "No credits were charged"]),
    ("removebg", 402, "mode", ProviderCreditsError, "provider_out_of_credits", 402,
     ["remove.bg account is out of credits", "insufficient_credits",
      "https://www.remove.bg/dashboard", "'removebg,local'"]),
    ("removebg", 403, "wrong_key", ProviderAuthError, "provider_auth_failed", 502,
     ["remove.bg refused the API key", "API Key invalid", "REMOVE_BG_API_KEY"]),
    ("removebg", 403, "no_key", ProviderAuthError, "provider_auth_failed", 502,
     ["remove.bg refused the API key", "Missing API Key", "REMOVE_BG_API_KEY"]),
    ("removebg", 429, "mode", ProviderRateLimitError, "provider_rate_limited", 429,
     ["remove.bg rate limit reached", "Rate limit exceeded", "retry in 120 s"]),
    ("removebg", 500, "mode", ProviderUnavailableError, "provider_unavailable", 502,
     ["remove.bg failed", "HTTP 500", "after 3 attempt(s)", "'removebg,local'"]),
    ("clipdrop", 400, "rename", ProviderRejectedImageError, "provider_rejected_image", 422,
     ["Clipdrop could not process this image", "Request is malformed or incomplete",
      "missing image_file"]),
    ("clipdrop", 401, "no_key", ProviderAuthError, "provider_auth_failed", 502,
     ["Clipdrop refused the API key", "HTTP 401", "No api key provided", "CLIPDROP_API_KEY"]),
    ("clipdrop", 402, "mode", ProviderCreditsError, "provider_out_of_credits", 402,
     ["Clipdrop account is out of credits", "no remaining credits",
      "https://clipdrop.co/apis/account"]),
    ("clipdrop", 403, "wrong_key", ProviderAuthError, "provider_auth_failed", 502,
     ["Clipdrop refused the API key", "Invalid or revocated api key", "CLIPDROP_API_KEY"]),
    ("clipdrop", 406, "accept", ProviderBadResponseError, "provider_bad_response", 502,
     ["Unexpected HTTP 406 from Clipdrop", "Accept header not acceptable",
      "BGBYE_CLIPDROP_URL"]),
    ("clipdrop", 429, "mode", ProviderRateLimitError, "provider_rate_limited", 429,
     ["Clipdrop rate limit reached", "blocked by the rate limiter", "retry in 120 s"]),
    ("clipdrop", 500, "mode", ProviderUnavailableError, "provider_unavailable", 502,
     ["Clipdrop failed", "HTTP 500", "contact@clipdrop.co", "after 3 attempt(s)"]),
    ("photoroom", 400, "rename", ProviderRejectedImageError, "provider_rejected_image", 422,
     ["Photoroom could not process this image", "Please provide an image.", "missing_image"]),
    ("photoroom", 402, "mode", ProviderCreditsError, "provider_out_of_credits", 402,
     ["Photoroom account is out of credits", "API credits exhausted",
      "https://app.photoroom.com/api-dashboard"]),
    ("photoroom", 403, "wrong_key", ProviderAuthError, "provider_auth_failed", 502,
     ["Photoroom refused the API key", "Forbidden (invalid API key)", "PHOTOROOM_API_KEY"]),
    ("photoroom", 429, "mode", ProviderRateLimitError, "provider_rate_limited", 429,
     ["Photoroom rate limit reached", "Too many requests", "retry in 120 s"]),
    ("photoroom", 500, "mode", ProviderUnavailableError, "provider_unavailable", 502,
     ["Photoroom failed", "HTTP 500", "An unexpected error occurred"]),
]


@pytest.mark.parametrize(("provider", "status", "how", "cls", "code", "ours", "phrases"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_error_status_gives_an_actionable_message(
    provider: str, status: int, how: str, cls: type, code: str, ours: int, phrases: list[str],
    client_for: ClientFactory, clock: FakeClock, photo: tuple[np.ndarray, bytes],
) -> None:
    rgb, data = photo
    mode = str(status) if how == "mode" else "ok"
    # retry_after beyond the client's patience: the 429 is handed to the caller at once.
    with running_fake(provider, mode=mode, retry_after=120) as fake:
        client = client_for(fake, key="wrong-key" if how == "wrong_key" else None)
        if how == "no_key":
            _tamper(client, _drop_header("x-api-key"))
        elif how == "rename":
            _tamper(client, _rename_image_field)
        elif how == "accept":
            _tamper(client, lambda req: req.headers.update({"Accept": "application/json"}))
        elif how == "uniform":
            rgb = np.full((64, 64, 3), 128, np.uint8)
            data = jpeg_bytes(rgb)
        err = _call(client, rgb, data)
        assert fake.requests, "the request must have reached the fake"
    assert type(err) is cls
    assert (err.code, err.http_status, err.upstream_status) == (code, ours, status)
    assert err.provider == provider
    for phrase in phrases:
        assert phrase in err.message, f"{phrase!r} not in {err.message!r}"
    assert err.to_dict() == {"error": {"code": code, "message": err.message}}
    if status == 429:
        assert isinstance(err, ProviderRateLimitError) and err.retry_after == 120
        assert clock.sleeps == []


def test_wrong_base_url_is_reported_with_the_variable_to_fix(
    client_for: ClientFactory, photo: tuple[np.ndarray, bytes]
) -> None:
    rgb, data = photo
    with running_fake("removebg") as fake:
        client = client_for(fake)
        client.base_url = fake.url.removesuffix("/v1.0")  # forgot the /v1.0
        err = _call(client, rgb, data)
    assert isinstance(err, ProviderBadResponseError)
    assert "Unexpected HTTP 404 from remove.bg" in err.message
    assert "BGBYE_REMOVEBG_URL" in err.message
