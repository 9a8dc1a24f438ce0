"""Hostile uploads through every upload endpoint: each gets its documented 4xx and a JSON error,
and the same server answers an ordinary request right after."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests import hostile
from tests.conftest import image_bytes
from tests.reliability.conftest import MAX_UPLOAD, assert_alive
from tests.server.conftest import assert_error

# name -> (bytes factory, upload filename, content type, expected status, expected code)
HOSTILE: dict[str, tuple[Callable[[], bytes], str, str, int, str | None]] = {
    "png_bomb": (hostile.png_bomb_header, "bomb.png", "image/png", 413, "image_too_large"),
    "gif_bomb": (hostile.gif_bomb_header, "bomb.gif", "image/gif", 413, "image_too_large"),
    "webp_bomb": (hostile.webp_bomb_header, "bomb.webp", "image/webp", 413, "image_too_large"),
    "tiff_bomb": (hostile.tiff_bomb_header, "bomb.tiff", "image/tiff", 413, "image_too_large"),
    "truncated_jpeg": (hostile.truncated_jpeg, "half.jpg", "image/jpeg", 415, "invalid_image"),
    "zero_bytes": (lambda: b"", "empty.png", "image/png", 400, "empty_input"),
    "text_as_jpg": (lambda: hostile.TEXT_AS_JPG, "photo.jpg", "image/jpeg", 415, "invalid_image"),
    "svg": (lambda: hostile.SVG, "logo.svg", "image/svg+xml", 415, "invalid_image"),
    "svg_as_png": (lambda: hostile.SVG, "logo.png", "image/png", 415, "invalid_image"),
    "html": (lambda: hostile.HTML, "page.html", "text/html", 415, "invalid_image"),
    # A zlib bomb in the iCCP chunk: Pillow's text-chunk limit refuses it.
    "png_icc_zlib_bomb": (hostile.huge_icc_png, "icc.png", "image/png", 415, "invalid_image"),
    "over_byte_limit": (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_UPLOAD + 1), "big.png",
                        "image/png", 413, "image_too_large"),
}

# Unusual but legitimate files: accepted (content is sniffed; only the first GIF frame is read).
ACCEPTED: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "gif_3000_frames": (hostile.many_frames_gif, "anim.gif", "image/gif"),
    "huge_exif": (hostile.huge_exif_jpeg, "exif.jpg", "image/jpeg"),
    "huge_icc_jpeg": (lambda: hostile.huge_icc_jpeg(1_500_000), "icc.jpg", "image/jpeg"),
    "png_named_jpg_sent_as_text": (lambda: image_bytes("PNG"), "photo.jpg", "text/plain"),
}

SINGLE_ENDPOINTS: dict[str, dict[str, str]] = {
    "/process/local": {},
    "/process/api": {"provider": "removebg"},  # no key configured: watermarked local result
    "/v1/remove": {},
}


def _post(client: TestClient, path: str, data: bytes, filename: str, ctype: str,
          form: dict[str, str]) -> Any:
    return client.post(path, files={"image": (filename, data, ctype)}, data=form)


@pytest.mark.parametrize("endpoint", list(SINGLE_ENDPOINTS))
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_upload_is_refused(shared_client: TestClient, endpoint: str, case: str) -> None:
    make, filename, ctype, status, code = HOSTILE[case]
    start = time.perf_counter()
    r = _post(shared_client, endpoint, make(), filename, ctype, SINGLE_ENDPOINTS[endpoint])
    error = assert_error(r, status, code)
    assert "Traceback" not in error["message"] and "File \"" not in error["message"]
    assert time.perf_counter() - start < 30  # refused from the header, never decoded
    assert_alive(shared_client)


@pytest.mark.parametrize("endpoint", list(SINGLE_ENDPOINTS))
@pytest.mark.parametrize("case", list(ACCEPTED))
def test_unusual_upload_is_accepted(shared_client: TestClient, endpoint: str, case: str) -> None:
    make, filename, ctype = ACCEPTED[case]
    r = _post(shared_client, endpoint, make(), filename, ctype, SINGLE_ENDPOINTS[endpoint])
    assert r.status_code == 200, r.text
    if endpoint == "/v1/remove":
        assert Image.open(io.BytesIO(r.content)).format == "PNG"
    else:
        after = shared_client.get(r.json()["after"])
        assert after.status_code == 200


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_file_in_a_job_is_a_per_item_error(shared_client: TestClient, case: str) -> None:
    """A job accepts the batch; each hostile file fails alone with the same code, the good one
    is processed."""
    make, filename, ctype, _, code = HOSTILE[case]
    files = [("images", (filename, make(), ctype)),
             ("images", ("good.png", image_bytes("PNG"), "image/png"))]
    r = shared_client.post("/v1/jobs", files=files)
    assert r.status_code == 202, r.text
    job = _wait(shared_client, r.json()["id"])
    assert job["state"] == "done"
    assert job["counts"] == {"total": 2, "pending": 0, "done": 1, "failed": 1}
    assert job["errors"][0]["error"]["code"] == code
    assert job["errors"][0]["error"]["message"]


def _wait(client: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


def test_image_sent_as_a_plain_field_is_a_422(shared_client: TestClient) -> None:
    """A part without a filename is a text field, not a file: refused, not crashed on."""
    for endpoint in SINGLE_ENDPOINTS:
        r = shared_client.post(endpoint, files={"image": (None, image_bytes("JPEG"))},
                               data=SINGLE_ENDPOINTS[endpoint])
        assert_error(r, 422, "invalid_option")
    assert_alive(shared_client)


# -- unknown models and providers, malformed options ---------------------------------------------

BAD_CHOICES: list[tuple[str, dict[str, str], int, str]] = [
    ("/v1/remove", {"model": "nope"}, 404, "unknown_model"),
    ("/v1/remove", {"model": "../../../../etc/passwd"}, 404, "unknown_model"),
    ("/v1/remove", {"model": "/etc/hosts.onnx"}, 404, "unknown_model"),
    ("/v1/remove", {"provider": "evil.example.com"}, 422, "invalid_option"),
    ("/v1/remove", {"provider": ","}, 422, "invalid_option"),
    ("/v1/remove", {"model": "tiny", "provider": "removebg"}, 422, "invalid_option"),
    ("/process/local", {"model": "nope"}, 404, "unknown_model"),
    ("/process/local", {"model": "heuristic/../../x"}, 404, "unknown_model"),
    ("/process/api", {"provider": "nope"}, 422, "invalid_option"),
    ("/process/api", {}, 400, "missing_field"),
    ("/v1/remove", {"format": "gif"}, 422, "invalid_option"),
    ("/v1/remove", {"format": "png\r\nX-Injected: 1"}, 422, "invalid_option"),
    ("/v1/remove", {"bg_color": "not-a-colour"}, 422, "invalid_option"),
    ("/v1/remove", {"bg_color": "#" + "f" * 10_000}, 422, "invalid_option"),
    ("/v1/remove", {"margin": "-1"}, 422, "invalid_option"),
    ("/v1/remove", {"margin": "1e99"}, 422, "invalid_option"),
    ("/v1/remove", {"margin": "99999999999999999999999"}, 422, "invalid_option"),
    ("/v1/remove", {"mask_only": "maybe"}, 422, "invalid_option"),
    ("/v1/jobs", {"model": "nope"}, 404, "unknown_model"),
    ("/v1/jobs", {"format": "bmp"}, 422, "invalid_option"),
]


@pytest.mark.parametrize(("endpoint", "form", "status", "code"), BAD_CHOICES)
def test_bad_choice_is_refused(shared_client: TestClient, endpoint: str, form: dict[str, str],
                               status: int, code: str) -> None:
    field = "images" if endpoint == "/v1/jobs" else "image"
    r = shared_client.post(endpoint, data=form,
                           files={field: ("a.png", image_bytes("PNG"), "image/png")})
    assert_error(r, status, code)
    assert "X-Injected" not in r.headers
    assert_alive(shared_client)


@pytest.mark.parametrize("payload", [b"", hostile.TEXT_AS_JPG, hostile.png_bomb_header()])
def test_bad_background_image_is_refused(shared_client: TestClient, payload: bytes) -> None:
    r = shared_client.post("/v1/remove", files={
        "image": ("a.png", image_bytes("PNG"), "image/png"),
        "bg_image": ("bg.png", payload, "image/png")})
    assert r.status_code in (400, 413, 415), r.text
    assert_error(r, r.status_code)
    assert_alive(shared_client)


def test_no_multipart_at_all(shared_client: TestClient) -> None:
    for body, ctype in [(b'{"image": "x"}', "application/json"), (b"image=x", "text/plain"),
                        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
                        (b"", "multipart/form-data")]:
        r = shared_client.post("/v1/remove", content=body, headers={"content-type": ctype})
        assert 400 <= r.status_code < 500, (ctype, r.status_code, r.text)
        assert_error(r, r.status_code)
    assert_alive(shared_client)
