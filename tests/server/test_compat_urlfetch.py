"""bgbye.server.urlfetch: the SSRF guard (after DNS, on every redirect), limits while
streaming, content types, redirects and timeouts, against a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgbye.errors import ImageTooLargeError, InvalidImageError
from bgbye.server.urlfetch import Allow, UrlFetchError, UrlRefusedError, fetch_image, is_public
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.hostile import png_bomb_header
from tests.server.compat_fixtures import (
    flat_png,
    image_server,  # noqa: F401 - fixture
    noise_png,
)


@pytest.fixture
def allowed(settings: Settings) -> Settings:
    settings.fetch_allow = "127.0.0.1"
    settings.max_upload_bytes = 200_000
    settings.max_pixels = 1_000_000
    settings.fetch_timeout_seconds = 2
    return settings


def fetch(url: str, settings: Settings) -> bytes:
    return asyncio.run(fetch_image(url, settings))


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
    "169.254.169.254",  # AWS/GCP/Azure metadata
    "100.100.100.200",  # Alibaba metadata (CGNAT)
    "fd00:ec2::254",  # AWS metadata over IPv6 (ULA)
    "fe80::1", "0.0.0.0", "::", "224.0.0.1", "240.0.0.1", "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
])
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_allow_list_parses_addresses_networks_and_names() -> None:
    allow = Allow.parse(" 127.0.0.1, 10.1.0.0/16 ,images.internal ,")
    assert allow.allows("x", ipaddress.ip_address("127.0.0.1"))
    assert allow.allows("x", ipaddress.ip_address("10.1.200.3"))
    assert not allow.allows("x", ipaddress.ip_address("10.2.0.1"))
    assert allow.allows("images.internal", ipaddress.ip_address("10.9.9.9"))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.png", "http://[::1]/a.png",
    "http://127.0.0.2/a.png",  # loopback, but not the allowed address
    "ftp://example.com/a.png", "file:///etc/passwd", "http:///nohost", "not a url",
    "http://user:pw@127.0.0.1/a.png",
])
def test_refused_before_connecting(url: str, allowed: Settings) -> None:
    with pytest.raises(UrlRefusedError):
        fetch(url, allowed)


def test_allowed_loopback_is_fetched(allowed: Settings, image_server: Any) -> None:  # noqa: F811
    body = image_bytes("PNG")
    assert fetch(image_server.add("/ok.png", body), allowed) == body


def test_default_refuses_loopback(settings: Settings, image_server: Any) -> None:  # noqa: F811
    with pytest.raises(UrlRefusedError):
        fetch(image_server.add("/ok2.png", image_bytes("PNG")), settings)


def test_redirects_are_checked_and_bounded(allowed: Settings,
                                           image_server: Any) -> None:  # noqa: F811
    body = image_bytes("PNG")
    target = image_server.add("/final.png", body)
    assert fetch(image_server.redirect("/r1", target), allowed) == body
    image_server.redirect("/bad", "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(UrlRefusedError):
        fetch(image_server.base + "/bad", allowed)
    # A relative redirect chain longer than fetch_max_redirects (3).
    for i in range(5):
        image_server.redirect(f"/loop{i}", f"/loop{i + 1}")
    image_server.add("/loop5", body)
    with pytest.raises(UrlFetchError, match="redirects"):
        fetch(image_server.base + "/loop0", allowed)
    allowed.fetch_max_redirects = 5
    assert fetch(image_server.base + "/loop0", allowed) == body


def test_http_errors_and_content_types(allowed: Settings, image_server: Any) -> None:  # noqa: F811
    with pytest.raises(UrlFetchError, match="404"):
        fetch(image_server.base + "/missing.png", allowed)
    with pytest.raises(InvalidImageError):
        fetch(image_server.add("/page.html", b"<html></html>", "text/html"), allowed)
    with pytest.raises(InvalidImageError):  # typed as binary, but not an image
        fetch(image_server.add("/junk.bin", b"\x00" * 100, "application/octet-stream"), allowed)


def test_byte_and_pixel_limits(allowed: Settings, image_server: Any) -> None:  # noqa: F811
    with pytest.raises(ImageTooLargeError):  # 1.5 MB declared > 200 kB
        fetch(image_server.add("/big.png", noise_png(700, 700)), allowed)
    with pytest.raises(ImageTooLargeError):  # 4 MP in a few kB
        fetch(image_server.add("/wide.png", flat_png(2000, 2000)), allowed)
    with pytest.raises(ImageTooLargeError):
        fetch(image_server.add("/bomb.png", png_bomb_header()), allowed)


class _Chunked:
    """A raw socket server: a chunked body without Content-Length, or one that stalls."""

    def __init__(self, body: bytes, *, stall: bool = False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x.png"
        self.body, self.stall, self.sent = body, stall, 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            if self.stall:
                time.sleep(5)
                return
            try:
                for i in range(0, len(self.body), 8192):
                    part = self.body[i:i + 8192]
                    conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                    self.sent += len(part)
                conn.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the client hung up: what the limit is for


@pytest.fixture
def raw_servers() -> Iterator[list[_Chunked]]:
    servers: list[_Chunked] = []
    yield servers
    for s in servers:
        s.sock.close()


def test_limit_is_enforced_while_streaming(allowed: Settings,
                                           raw_servers: list[_Chunked]) -> None:
    server = _Chunked(image_bytes("PNG") + bytes(40_000_000))  # 40 MB, no Content-Length
    raw_servers.append(server)
    with pytest.raises(ImageTooLargeError):
        fetch(server.url, allowed)
    time.sleep(0.5)
    assert server.sent < 20_000_000  # cut off: only socket buffers' worth went out


def test_read_timeout(allowed: Settings, raw_servers: list[_Chunked]) -> None:
    allowed.fetch_timeout_seconds = 0.5
    server = _Chunked(b"", stall=True)
    raw_servers.append(server)
    with pytest.raises(UrlFetchError, match="timed out"):
        fetch(server.url, allowed)


def test_host_names_resolve_before_the_check(allowed: Settings, image_server: Any,  # noqa: F811
                                             tmp_path: Path) -> None:
    # "localhost" resolves to loopback: refused, unless the name itself is allowed.
    port = image_server.base.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/named.png"
    image_server.add("/named.png", image_bytes("PNG"))
    allowed.fetch_allow = ""
    with pytest.raises(UrlRefusedError):
        fetch(url, allowed)
    allowed.fetch_allow = "localhost"
    try:
        assert fetch(url, allowed)[:8] == b"\x89PNG\r\n\x1a\n"
    except UrlFetchError:  # localhost resolved to ::1 first and nothing listens there
        pytest.skip("localhost resolves to an address the image server does not listen on")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """An HTTPS image server on 127.0.0.1 whose certificate names only "localhost"."""
    import http.server
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    body = image_bytes("PNG")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    yield f"{httpd.server_address[1]}", client_ctx
    httpd.shutdown()
    httpd.server_close()


def test_https_connects_to_the_checked_address_and_still_verifies_the_name(
        allowed: Settings, tls_server: tuple[str, Any]) -> None:
    port, ctx = tls_server
    allowed.fetch_allow = "localhost"
    # The connection goes to the pinned 127.0.0.1 with SNI "localhost": the certificate checks.
    try:
        data = asyncio.run(fetch_image(f"https://localhost:{port}/a.png", allowed, verify=ctx))
    except UrlFetchError as exc:
        if "::1" in str(exc) or "Connect" in str(exc):
            pytest.skip("localhost resolves to ::1 first here")
        raise
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # The same server by address: the certificate does not name 127.0.0.1, so TLS refuses.
    allowed.fetch_allow = "127.0.0.1"
    with pytest.raises(UrlFetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        asyncio.run(fetch_image(f"https://127.0.0.1:{port}/a.png", allowed, verify=ctx))
