"""Pure ASGI middleware: request-body limits and request metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgbye.monitoring import Metrics
from bgbye.server.errors import Envelope, error_response


class BodyLimitMiddleware:
    """Refuse bodies over a per-path limit: by Content-Length before reading a byte, and by
    counting while streaming (chunked uploads), so nothing large is spooled to disk first.

    A body that stalls for ``idle_timeout`` seconds is answered 408: without it a client that
    trickles (or stops sending) an upload holds a connection and a task forever (uvicorn has no
    body timeout)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int],
                 idle_timeout: float | None = None, metrics: Metrics | None = None,
                 envelopes: Mapping[str, Envelope] | None = None):
        self.app = app
        self.metrics = metrics
        self.limit_for = limit_for
        self.idle_timeout = idle_timeout
        self.envelopes = dict(envelopes or {})  # path prefix -> an emulated API's error shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        try:
            declared = int(Headers(scope=scope).get("content-length", "-1"))
        except ValueError:
            declared = -1
        if declared > limit:
            envelope = next((e for prefix, e in self.envelopes.items()
                             if scope["path"].startswith(prefix)), None)
            if envelope is None:
                response = error_response(413, "request_too_large", _message(limit),
                                          metrics=self.metrics)
            else:
                if self.metrics is not None:
                    self.metrics.errors.labels(code="request_too_large").inc()
                response = envelope(413, "request_too_large", _message(limit), None)
            await response(scope, receive, send)
            return
        seen = 0
        body_done = False

        async def counted() -> Message:
            nonlocal seen, body_done
            # Only the body is timed: after it, receive() waits for a disconnect (streaming
            # responses listen for one) and may rightly wait as long as the response lasts.
            timeout = None if body_done else self.idle_timeout
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise HTTPException(408, f"The upload stalled for {self.idle_timeout:g} s; "
                                         "send the body without pauses.") from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI re-raises HTTPExceptions from body parsing; our handler makes JSON.
                    raise HTTPException(413, _message(limit))
            return message

        await self.app(scope, counted, send)


def _message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit:,} bytes."


# The website loads only its own scripts and styles; results are shown from blob: URLs. Inline
# style *attributes* are used by the page (CSS custom properties), inline scripts never.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI and ReDoc (served from the package, routes/docs.py) start from inline scripts; their
# policy allows those but nothing from elsewhere, so even ReDoc's branding logo is not fetched.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """nosniff, no framing, no referrer and a CSP on every response (the docs have their own)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CONTENT_SECURITY_POLICY if scope["path"].startswith(_DOCS_PATHS)
               else CONTENT_SECURITY_POLICY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class MetricsMiddleware:
    """Counts requests by route *template* (never the raw path: ids would explode the series)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(route=template, method=method,
                                         status=str(status)).inc()
            self.metrics.request_seconds.labels(route=template, method=method).observe(
                time.perf_counter() - start)
