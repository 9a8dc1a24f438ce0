"""Every error leaves the server as ``{"error": {"code", "message"}}``.

Ours, FastAPI's validation errors and Starlette's 404/405 alike.

No handler ever includes a traceback; unexpected exceptions are logged server-side and answered
with a generic 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from bgbye.errors import BgbyeError, OutputError
from bgbye.monitoring import Metrics

log = logging.getLogger(__name__)


OUTPUT_ERROR_MESSAGE = ("The server could not store the file (disk full or not writable); "
                        "try again later.")


class QueueFullError(BgbyeError):
    """The inference pool and its queue are full; the client should retry shortly."""

    code = "queue_full"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class UnauthorizedError(BgbyeError):
    code = "unauthorized"
    http_status = 401


class MissingFieldError(BgbyeError):
    code = "missing_field"
    http_status = 400


class NotFoundError(BgbyeError):
    code = "not_found"
    http_status = 404


class GoneError(BgbyeError):
    code = "expired"
    http_status = 410


class ConflictError(BgbyeError):
    code = "not_ready"
    http_status = 409


class TooManyFilesError(BgbyeError):
    code = "too_many_files"
    http_status = 413


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """The one error shape, documented in the OpenAPI schema for every operation."""

    error: ErrorDetail


# Every operation may answer these; declaring 422 replaces FastAPI's default
# ``HTTPValidationError`` schema, which our handler never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "The request was refused; see error.code."},
    422: {"model": ErrorBody, "description": "An option has an invalid value."},
    "5XX": {"model": ErrorBody, "description": "Server-side failure or backpressure "
            "(503 with Retry-After: retry later)."},
}


# Codes for plain HTTP errors raised by Starlette/FastAPI (routing, method, body parsing).
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   metrics: Metrics | None = None) -> JSONResponse:
    if metrics is not None:
        metrics.errors.labels(code=code).inc()
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def _validation_message(errors: list[Any]) -> tuple[int, str, str]:
    """A missing field is a 400 (the request is incomplete); a bad value is a 422."""
    parts = []
    missing = False
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header", "path")]
        where = ".".join(loc) or "request"
        if err.get("type") == "missing":
            missing = True
            parts.append(f"{where}: this field is required")
        else:
            parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    message = "; ".join(parts) or "Invalid request."
    if missing:
        return 400, "missing_field", message
    return 422, "invalid_option", message


def public_error(exc: BaseException, context: str = "") -> BgbyeError:
    """The one mapping from an exception to what a client may see (HTTP answers and job items
    alike): our errors as they are, except that an OutputError's detail names server paths and
    goes to the log; anything else is an internal error, logged with its traceback."""
    if isinstance(exc, OutputError):
        log.error("%s%s", f"{context}: " if context else "", exc.message)
        return OutputError(OUTPUT_ERROR_MESSAGE)
    if isinstance(exc, BgbyeError):
        return exc
    log.error("internal error%s", f" ({context})" if context else "", exc_info=exc)
    return BgbyeError(f"Internal error: {type(exc).__name__}", code="internal_error")


# An emulated API's error shape: (status, bgbye code, message, headers) -> its response.
Envelope = Callable[[int, str, str, dict[str, str] | None], JSONResponse]


def install_error_handlers(app: FastAPI, metrics: Metrics | None = None,
                           envelopes: Mapping[str, Envelope] | None = None) -> None:
    """``envelopes`` maps a path prefix to the error shape of the API emulated there (remove.bg,
    rembg...): their clients parse their own shape, never ours."""
    routes = dict(envelopes or {})

    def respond(request: Request, status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
        for prefix, envelope in routes.items():
            if request.url.path.startswith(prefix):
                if metrics is not None:
                    metrics.errors.labels(code=code).inc()
                return envelope(status, code, message, headers)
        return error_response(status, code, message, headers, metrics)

    async def on_bgbye(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BgbyeError)
        retry_after = getattr(exc, "retry_after", None)  # backpressure: queue full, database down
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        if exc.http_status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.code, exc.message)
        public = public_error(exc)
        return respond(request, exc.http_status, public.code, public.message, headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        status, code, message = _validation_message(list(exc.errors()))
        return respond(request, status, code, message)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = _STATUS_CODES.get(status, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        if not detail or detail == phrase:
            detail = _default_message(request, status, phrase)
        return respond(request, status, code, detail, dict(exc.headers or {}) or None)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, 500, "internal_error",
                       "Internal server error; see the server log.")

    app.add_exception_handler(BgbyeError, on_bgbye)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def _default_message(request: Request, status: int, phrase: str) -> str:
    if status == 404:
        return f"No such resource: {request.url.path}"
    if status == 405:
        return f"Method {request.method} is not allowed on {request.url.path}."
    return phrase
