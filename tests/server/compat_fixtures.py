"""Fixtures for the compatible-API tests: a live ``bgbye`` server on a loopback port (the real
third-party clients talk HTTP to it) and a loopback HTTP server that serves images by URL."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgbye.settings import Settings
from tests.conftest import image_bytes, isolated_settings
from tests.model_fixtures import write_tiny_model
from tests.server.live import live_server

API_KEY = "compat-test-key"
MAX_UPLOAD = 1_000_000
MAX_PIXELS = 2_000_000


@dataclass
class Served:
    """path -> (status, headers, body) served by the loopback image server."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    base: str = ""

    def add(self, path: str, body: bytes, ctype: str = "image/png", status: int = 200,
            **headers: str) -> str:
        self.routes[path] = (status, {"Content-Type": ctype, **headers}, body)
        return self.base + path

    def redirect(self, path: str, location: str) -> str:
        self.routes[path] = (302, {"Location": location}, b"")
        return self.base + path


@pytest.fixture(scope="module")
def image_server() -> Iterator[Served]:
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = served.routes.get(self.path, (404, {}, b"no such file"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    httpd.shutdown()
    httpd.server_close()


def compat_settings(root: Path, **extra: object) -> Settings:
    write_tiny_model(root / "models")
    settings = isolated_settings(root / "models", "tiny", root)
    settings.api_keys = API_KEY
    settings.fetch_allow = "127.0.0.1"  # the loopback image server, explicitly
    settings.max_upload_bytes = MAX_UPLOAD
    settings.max_pixels = MAX_PIXELS
    for key, value in extra.items():
        setattr(settings, key, value)
    return settings


@pytest.fixture(scope="module")
def bgbye_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live bgbye server (the tiny ONNX model, API keys on, loopback fetches allowed)."""
    with live_server(compat_settings(tmp_path_factory.mktemp("compat"))) as url:
        yield url


def photo_file(folder: Path, name: str = "photo.png", width: int = 64, height: int = 48,
               fmt: str = "PNG", **save: object) -> Path:
    path = folder / name
    path.write_bytes(image_bytes(fmt, width, height, **save))
    return path


def noise_png(width: int, height: int) -> bytes:
    """Incompressible pixels: a PNG much larger than its pixel count suggests."""
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def flat_png(width: int, height: int) -> bytes:
    """Many pixels in few bytes (for the pixel limit)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def assert_cutout(img: Image.Image, size: tuple[int, int] = (64, 48)) -> None:
    """The tiny model keeps the bright disc in the middle and drops the dark background."""
    assert img.size == size
    assert img.mode == "RGBA"
    alpha = np.asarray(img)[:, :, 3]
    h, w = alpha.shape
    assert alpha[h // 2, w // 2] > 150
    assert alpha[1, 1] < 30 and alpha[h - 2, w - 2] < 30
