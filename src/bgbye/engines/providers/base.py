"""The part every provider client shares: upload, retries, error mapping, result decoding.

A concrete client only says how to build its request, how to read its error bodies and which
headers carry credits and rate limits (see ``removebg.py``, ``clipdrop.py``, ``photoroom.py``).

Retry rules (remove.bg's documented advice, applied to all three):
- 5xx and network failures (refused, reset, dropped connection) back off exponentially;
- 429 waits what ``Retry-After`` says (or until ``X-RateLimit-Reset``), never an invented backoff,
  and gives up at once when the wait is longer than ``RetryPolicy.max_retry_after``;
- a read timeout is *not* retried: it already cost the user the whole timeout;
- 4xx other than 429 are never retried: the same request would fail the same way.
Sleeping goes through an injectable :class:`Clock` so tests run on a fake clock.
"""

from __future__ import annotations

import base64
import email.utils
import inspect
import io
import json
import logging
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import cv2
import httpx
import numpy as np
from PIL import Image

from bgbye import imageio
from bgbye.engines.base import Prediction
from bgbye.engines.providers.errors import (
    ProviderAuthError,
    ProviderBadResponseError,
    ProviderCallError,
    ProviderCreditsError,
    ProviderRateLimitError,
    ProviderRejectedImageError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from bgbye.errors import BgbyeError
from bgbye.monitoring import Metrics

log = logging.getLogger(__name__)

# Results bigger than this are refused before decoding (providers return at most 50 MP).
MAX_RESULT_PIXELS = 100_000_000
_UPLOAD_TYPES = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"),
                 "WEBP": ("webp", "image/webp")}
_EXIF_ORIENTATION = 0x0112


class Clock(Protocol):
    def now(self) -> float: ...  # Unix epoch seconds
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # total tries, the first included
    backoff_base: float = 0.5  # seconds before the 2nd try; doubles each time
    backoff_max: float = 8.0
    max_retry_after: float = 30.0  # longer 429 waits are handed to the caller instead

    def backoff(self, attempt: int) -> float:
        """Wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))


@dataclass
class ProviderRequest:
    path: str
    headers: dict[str, str]
    files: dict[str, tuple[str, bytes, str]]
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    content_type: str


def upload_for(rgb: np.ndarray, source: bytes | None) -> Upload:
    """The original file when a provider can take it as is, else a PNG of the decoded pixels.

    Files with an EXIF rotation are re-encoded: ``rgb`` is already upright and providers differ
    on whether they apply EXIF, so sending pixels keeps the returned mask aligned with ``rgb``.
    """
    if source is not None:
        try:
            with Image.open(io.BytesIO(source)) as img:
                kind = _UPLOAD_TYPES.get(str(img.format))
                orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
                same_size = img.size == (rgb.shape[1], rgb.shape[0])
        except Exception:  # unreadable here means re-encode, the decoded pixels are fine
            kind, orientation, same_size = None, 1, False
        if kind is not None and orientation == 1 and same_size:
            return Upload(source, f"image.{kind[0]}", kind[1])
    return Upload(imageio.encode(rgb, "png"), "image.png", "image/png")


def alpha_from_result(data: bytes, width: int, height: int, *, mask_expected: bool,
                      provider: str) -> np.ndarray:
    """Alpha (height, width) uint8 from a provider's image, resized to the input size."""
    try:
        imageio.probe(data, max_pixels=MAX_RESULT_PIXELS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            img.load()
    except (BgbyeError, OSError, SyntaxError, ValueError) as exc:
        msg = exc.message if isinstance(exc, BgbyeError) else str(exc)
        raise ProviderBadResponseError(
            f"{provider} answered 200 but the body is not a usable image ({msg}).",
            provider=provider, upstream_status=200,
        ) from exc
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    alpha: np.ndarray | None = None
    if has_alpha:
        alpha = np.asarray(img.convert("RGBA"))[:, :, 3]
        if mask_expected and bool(alpha.min() == 255):
            alpha = None  # an opaque image whose grey levels are the mask
    if alpha is None:
        if not (mask_expected or img.mode in ("L", "1", "I;16", "I")):
            raise ProviderBadResponseError(
                f"{provider} returned an image without transparency ({img.mode}); "
                "bgbye asks for a transparent result, so the provider ignored the request.",
                provider=provider, upstream_status=200,
            )
        alpha = np.asarray(img.convert("L"))
    rh, rw = alpha.shape
    # Providers may downscale (remove.bg size=preview) but never change the aspect ratio;
    # a different one means the result was cropped and would not line up with the input.
    if abs(rh - height * rw / width) > 2 + 0.01 * rh:
        raise ProviderBadResponseError(
            f"{provider} returned a {rw}x{rh} result for a {width}x{height} image "
            "(a different aspect ratio: cropped?).",
            provider=provider, upstream_status=200,
        )
    if (rw, rh) != (width, height):
        shrink = rw > width
        alpha = cv2.resize(alpha, (width, height),
                           interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(alpha, dtype=np.uint8)


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return json.loads(resp.content)
    except ValueError:
        return None


def header_number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# Every concrete client, by its canonical name: filled as the client classes are defined (see
# ProviderClient.__init_subclass__), read through bgbye.engines.providers.registry().
REGISTRY: dict[str, type[ProviderClient]] = {}


class ProviderClient(ABC):
    """An online provider as an Engine: ``predict(rgb, source=...) -> Prediction``.

    A concrete subclass is the provider's whole declaration: its name, aliases, key and URL
    variables and default URL live here and nowhere else; defining the class registers it, so
    settings, the server's model list and reference parsing all follow from it.
    """

    name: str  # canonical id, what users type (an instance attribute for the Engine protocol)
    display_name: ClassVar[str]  # how the company writes it
    aliases: ClassVar[tuple[str, ...]] = ()  # other spellings users type ("remove.bg")
    key_env: ClassVar[str]  # the environment variable holding the key (BGBYE_<it> works too)
    url_env: ClassVar[str]  # the environment variable that overrides default_url
    default_url: ClassVar[str]
    dashboard_url: ClassVar[str]  # where a person buys credits and manages keys
    listing_order: ClassVar[int] = 100  # position in model lists and the website
    mask_expected: ClassVar[bool] = False  # True when we ask for channels=alpha
    # What each status means per the provider's documentation, used when the body says nothing.
    documented_errors: ClassVar[dict[int, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            REGISTRY[cls.name] = cls

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, clock: Clock | None = None,
                 transport: httpx.BaseTransport | None = None, metrics: Metrics | None = None):
        if not api_key:
            raise ValueError(f"{self.display_name} needs an API key ({self.key_env})")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics  # None: count nothing (library use)
        self.label = self.display_name
        # Connect fails fast; read waits for the provider's model (big images take seconds).
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": "bgbye"},
        )

    # --- what each provider defines -----------------------------------------------------
    @abstractmethod
    def build_request(self, upload: Upload) -> ProviderRequest: ...

    @abstractmethod
    def error_detail(self, status: int, body: Any, text: str) -> str:
        """The provider's own words from an error body ('' if none)."""

    def read_headers(self, headers: httpx.Headers) -> dict[str, Any]:
        """Credits and rate-limit facts from a response (any status)."""
        return {}

    # --- the Engine protocol ------------------------------------------------------------
    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        height, width = rgb.shape[:2]
        request = self.build_request(upload_for(rgb, source))
        start = time.perf_counter()
        resp, attempts, facts = self._send(request)
        try:
            alpha = alpha_from_result(self._image_bytes(resp), width, height,
                                      mask_expected=self.mask_expected, provider=self.display_name)
        except ProviderBadResponseError as exc:
            exc.provider = self.name
            self._count("bad_response")
            raise
        self._count("ok")
        self._record_success(facts)
        info: dict[str, Any] = {
            "provider": self.name,
            "label": self.label,
            "answered_by": self.name,
            "attempts": attempts,
            "seconds": round(time.perf_counter() - start, 3),
            **facts,
        }
        return Prediction(alpha=alpha, info=info)

    def close(self) -> None:
        self._http.close()

    # --- internals ------------------------------------------------------------------------
    def _image_bytes(self, resp: httpx.Response) -> bytes:
        """The image in a 200 body; JSON bodies carrying base64 are accepted too."""
        if "json" not in resp.headers.get("content-type", ""):
            return resp.content
        body = _json_or_none(resp) or {}
        b64 = (body.get("data") or {}).get("result_b64") if isinstance(body, dict) else None
        b64 = b64 or (body.get("base64img") if isinstance(body, dict) else None)
        if not isinstance(b64, str):
            raise ProviderBadResponseError(
                f"{self.display_name} answered 200 with JSON but no image in it.",
                provider=self.name, upstream_status=200,
            )
        return base64.b64decode(b64.split(",")[-1])

    def _send(self, req: ProviderRequest) -> tuple[httpx.Response, int, dict[str, Any]]:
        url = self.base_url + req.path
        attempts = self.retry.max_attempts
        for attempt in range(1, attempts + 1):
            last_try = attempt == attempts
            try:
                resp = self._http.post(url, headers=req.headers, data=req.data, files=req.files)
            except httpx.ConnectTimeout as exc:
                err: ProviderCallError = self._network_error(exc, attempt, "connecting timed out")
            except httpx.TimeoutException as exc:
                self._count("timeout")
                raise ProviderTimeoutError(
                    f"{self.display_name} did not answer within the timeout "
                    f"(BGBYE_PROVIDER_TIMEOUT_SECONDS). Try a smaller image or a longer timeout.",
                    provider=self.name,
                ) from exc
            except httpx.TransportError as exc:
                err = self._network_error(exc, attempt, str(exc) or type(exc).__name__)
            else:
                facts = self.read_headers(resp.headers)
                self._record_headers(facts)
                if resp.status_code < 300:
                    return resp, attempt, facts
                err = self._map_error(resp, attempt)
                self._count(err.code.removeprefix("provider_"))
                if isinstance(err, ProviderRateLimitError):
                    wait = err.retry_after
                    if wait is None:
                        wait = self.retry.backoff(attempt)
                    if last_try or wait > self.retry.max_retry_after:
                        raise err
                    log.warning("%s rate limited; waiting %.1f s (try %d/%d)",
                                self.name, wait, attempt, attempts)
                    self.clock.sleep(wait)
                    continue
                if not isinstance(err, ProviderUnavailableError):
                    raise err
            if last_try:
                raise err
            wait = self.retry.backoff(attempt)
            log.warning("%s failed (%s); retrying in %.1f s (try %d/%d)",
                        self.name, err.message, wait, attempt, attempts)
            self.clock.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _network_error(self, exc: Exception, attempt: int, what: str) -> ProviderUnavailableError:
        self._count("network_error")
        return ProviderUnavailableError(
            f"Could not reach {self.display_name} at {self.base_url} ({what}) after {attempt} "
            f"attempt(s). Check the network or {self.url_env}; or use a fallback list such as "
            f"'{self.name},local'.",
            provider=self.name,
        )

    def _retry_after(self, headers: httpx.Headers) -> float | None:
        value = headers.get("retry-after")
        if value is not None:
            seconds = header_number(value)
            if seconds is None:  # an HTTP date
                try:
                    when = email.utils.parsedate_to_datetime(value).timestamp()
                    seconds = when - self.clock.now()
                except (TypeError, ValueError):
                    seconds = None
            if seconds is not None:
                return max(0.0, seconds)
        reset = header_number(headers.get("x-ratelimit-reset"))
        if reset is not None:
            return max(0.0, reset - self.clock.now())
        return None

    def _map_error(self, resp: httpx.Response, attempt: int) -> ProviderCallError:
        status = resp.status_code
        text = resp.text[:300].strip() if resp.content else ""
        detail = self.error_detail(status, _json_or_none(resp), text)
        detail = detail or self.documented_errors.get(status) or resp.reason_phrase or "no details"
        who = self.display_name
        kw: dict[str, Any] = {"provider": self.name, "upstream_status": status}
        if status in (401, 403):
            return ProviderAuthError(
                f"{who} refused the API key (HTTP {status}: {detail}). Check {self.key_env}; "
                f"keys are managed at {self.dashboard_url}.", **kw)
        if status == 402:
            return ProviderCreditsError(
                f"{who} account is out of credits (HTTP 402: {detail}). Buy credits at "
                f"{self.dashboard_url}, or use a fallback list such as "
                f"'{self.name},local'.", **kw)
        if status == 429:
            wait = self._retry_after(resp.headers)
            when = f"retry in {wait:.0f} s" if wait is not None else "retry later"
            return ProviderRateLimitError(
                f"{who} rate limit reached (HTTP 429: {detail}); {when}, or send fewer images "
                "per minute.", retry_after=wait, **kw)
        if status in (400, 413, 415, 422):
            return ProviderRejectedImageError(
                f"{who} could not process this image (HTTP {status}: {detail}). "
                "No credits were charged; try another image or a local model.", **kw)
        if status >= 500:
            return ProviderUnavailableError(
                f"{who} failed (HTTP {status}: {detail}) after {attempt} attempt(s). Try again "
                f"later, or use a fallback list such as '{self.name},local'.", **kw)
        return ProviderBadResponseError(
            f"Unexpected HTTP {status} from {who} at {self.base_url} ({detail}). "
            f"Check {self.url_env}.", **kw)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.provider_calls.labels(self.name, outcome).inc()

    def _record_headers(self, facts: dict[str, Any]) -> None:
        remaining = facts.get("ratelimit_remaining")
        if remaining is not None and self.metrics is not None:
            self.metrics.provider_ratelimit_remaining.labels(self.name).set(remaining)

    def _record_success(self, facts: dict[str, Any]) -> None:
        charged = facts.get("credits_charged")
        if charged and self.metrics is not None:
            self.metrics.provider_credits.labels(self.name).inc(charged)
        if facts:
            log.info("%s answered: %s", self.name,
                     ", ".join(f"{k}={v}" for k, v in sorted(facts.items())))
