"""The machinery the three fake providers share: a threaded loopback HTTP server, a byte-exact
multipart parser, failure modes and a log of what the client sent.

Each provider module defines ``handle(fake, request) -> Reply`` and its error bodies; this module
never knows a provider's contract.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

MODES = ("ok", "402", "429", "500", "slow", "drop", "garbage")


@dataclass
class UploadedFile:
    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    fields: dict[str, str] = field(default_factory=dict)  # text form fields
    files: dict[str, UploadedFile] = field(default_factory=dict)
    form_error: str | None = None  # the body could not be parsed as the declared type

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def names(self) -> set[str]:
        return set(self.fields) | set(self.files)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode(),
                   {"Content-Type": "application/json", **(headers or {})})


DROP = Reply(-1)  # close the connection without answering


# handle(fake, request) -> Reply, one per provider module.
Handler = Callable[[Any, FakeRequest], Reply]


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a multipart/form-data body exactly at its boundary (no line-ending rewriting)."""
    params = dict(
        p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p
    )
    boundary = params.get("boundary", "").strip('"')
    if not boundary:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + boundary.encode()
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body is not terminated")
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise ValueError("malformed multipart part")
        head, sep, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            header, _, value = line.partition(":")
            headers[header.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        attrs: dict[str, str] = {}
        for item in disposition.split(";")[1:]:
            key, _, val = item.strip().partition("=")
            attrs[key.lower()] = val.strip('"')
        name = attrs.get("name")
        if name is None:
            raise ValueError("multipart part without a name")
        if "filename" in attrs:
            files[name] = UploadedFile(attrs["filename"], content, headers.get("content-type"))
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


def _parse_form(req: FakeRequest) -> None:
    ctype = req.header("content-type") or ""
    try:
        if ctype.startswith("multipart/form-data"):
            req.fields, req.files = parse_multipart(req.body, ctype)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            pairs = parse_qs(req.body.decode(), keep_blank_values=True)
            req.fields = {k: v[-1] for k, v in pairs.items()}
        elif ctype.startswith("application/json"):
            data = json.loads(req.body or b"{}")
            req.fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        elif req.body:
            req.form_error = f"unsupported content type {ctype!r}"
    except (ValueError, AttributeError) as exc:
        req.form_error = str(exc)


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow handler must not block shutdown
    fake: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is what the slow mode is for, not a fake bug.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = FakeRequest(self.command, self.path.split("?")[0],
                          {k.lower(): v for k, v in self.headers.items()}, body)
        _parse_form(req)
        reply = self.server.fake.dispatch(req)
        if reply is DROP:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve
