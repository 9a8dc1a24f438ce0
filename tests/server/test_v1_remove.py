"""POST /v1/remove: the image path, options, and every error status."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bgbye.server.app import create_app
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.server.conftest import FakeEngine, assert_error, inject, open_png


def post(client: TestClient, data: bytes | None = None, name: str = "photo.png",
         headers: dict[str, str] | None = None, **form: str):
    files = {"image": (name, data, "image/png")} if data is not None else None
    return client.post("/v1/remove", files=files, data=form, headers=headers)


def test_returns_png_with_alpha(client: TestClient, png_bytes: bytes) -> None:
    r = post(client, png_bytes)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    img = open_png(r.content)
    assert img.mode == "RGBA" and img.size == (64, 48)
    alpha = np.asarray(img)[:, :, 3]
    # The tiny model's alpha follows brightness: the bright disc is kept, the dark noise is not.
    assert alpha[24, 32] > 150 and alpha[2, 2] < 30
    assert r.headers["x-bgbye-engine"] == "tiny (ONNX)"
    assert r.headers["x-bgbye-mocked"] == "false"
    assert 'filename="photo.png"' in r.headers["content-disposition"]


def test_json_answer_has_base64_and_metadata(client: TestClient, jpeg_bytes: bytes) -> None:
    r = post(client, jpeg_bytes, headers={"Accept": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["width"] == 64 and body["height"] == 48
    assert body["engine"] == "tiny (ONNX)" and body["format"] == "png"
    assert body["seconds"] >= 0 and body["mocked"] is False
    assert body["info"]["engine"] == "tiny"
    assert open_png(base64.b64decode(body["image"])).size == (64, 48)


@pytest.mark.parametrize(("form", "mode", "media"), [
    ({"format": "webp"}, "RGBA", "image/webp"),
    ({"format": "jpg"}, "RGB", "image/jpeg"),
    ({"mask_only": "true"}, "L", "image/png"),
    ({"bg_color": "#81d4fa"}, "RGB", "image/png"),
])
def test_options_change_the_output(client: TestClient, png_bytes: bytes, form: dict[str, str],
                                   mode: str, media: str) -> None:
    r = post(client, png_bytes, **form)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert Image.open(io.BytesIO(r.content)).mode == mode


def test_background_colour_is_used(client: TestClient, png_bytes: bytes) -> None:
    out = np.asarray(Image.open(io.BytesIO(post(client, png_bytes, bg_color="00ff00").content)))
    # A dark corner pixel is background (alpha ~2%): nearly pure green.
    assert np.abs(out[1, 1].astype(int) - (0, 255, 0)).max() <= 10


def test_crop_and_background_image(client: TestClient, png_bytes: bytes) -> None:
    inject(client, "box", FakeEngine("box"))
    cropped = open_png(post(client, png_bytes, model="box", crop="true", margin="2").content)
    assert cropped.size == (32 + 4, 24 + 4)  # the fake engine keeps the central half
    bg = image_bytes("PNG", 10, 10)
    r = client.post("/v1/remove", data={"model": "box"},
                    files={"image": ("a.png", png_bytes, "image/png"),
                           "bg_image": ("bg.png", bg, "image/png")})
    assert r.status_code == 200
    assert open_png(r.content).mode == "RGB"


def test_missing_image_is_400(client: TestClient) -> None:
    err = assert_error(client.post("/v1/remove", data={"format": "png"}), 400, "missing_field")
    assert "image" in err["message"]


def test_empty_image_is_400(client: TestClient) -> None:
    assert_error(post(client, b""), 400, "empty_input")


def test_not_an_image_is_415(client: TestClient) -> None:
    assert_error(post(client, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg"), 415,
                 "invalid_image")


def test_truncated_image_is_415(client: TestClient, png_bytes: bytes) -> None:
    assert_error(post(client, png_bytes[: len(png_bytes) // 2]), 415, "invalid_image")


@pytest.mark.parametrize("form", [
    {"format": "gif"}, {"bg_color": "not-a-colour"}, {"margin": "-1"}, {"margin": "many"},
    {"crop": "perhaps"}, {"mask_only": "true", "bg_color": "fff"},
    {"model": "tiny", "provider": "removebg"}, {"provider": "nobody"},
])
def test_invalid_options_are_422(client: TestClient, png_bytes: bytes,
                                 form: dict[str, str]) -> None:
    assert_error(post(client, png_bytes, **form), 422, "invalid_option")


@pytest.mark.parametrize("model", ["nope", "../../etc/passwd", "/tmp/x.onnx", "models/tiny.onnx"])
def test_unknown_model_is_404_and_paths_are_refused(client: TestClient, png_bytes: bytes,
                                                    model: str) -> None:
    assert_error(post(client, png_bytes, model=model), 404, "unknown_model")


def test_byte_limit_is_413_before_decoding(settings: Settings, png_bytes: bytes) -> None:
    settings.max_upload_bytes = len(png_bytes) - 1
    with TestClient(create_app(settings)) as client:
        assert_error(post(client, png_bytes), 413, "image_too_large")
        # A body far over the limit is refused from its Content-Length alone.
        big = b"\0" * (3 * settings.max_upload_bytes + (2 << 20))
        assert_error(post(client, big), 413, "request_too_large")


def test_pixel_limit_is_413(settings: Settings) -> None:
    settings.max_pixels = 1000
    with TestClient(create_app(settings)) as client:
        err = assert_error(post(client, image_bytes("PNG", 64, 48)), 413, "image_too_large")
        assert "pixels" in err["message"]


def test_pixel_bomb_refused_from_header(client: TestClient) -> None:
    # A PNG header declaring 100000 x 100000 pixels: refused without decoding.
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # keep the IHDR CRC valid
    assert_error(post(client, bytes(data)), 413, "image_too_large")


def test_unexpected_failure_is_a_json_500_without_traceback(settings: Settings,
                                                            png_bytes: bytes) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        inject(client, "broken", FakeEngine("broken", fail=RuntimeError("secret internals")))
        r = post(client, png_bytes, model="broken")
        err = assert_error(r, 500, "internal_error")
        assert "secret" not in r.text and "RuntimeError" not in err["message"]


def test_model_not_fetched_is_503(settings: Settings, png_bytes: bytes) -> None:
    # Bundled u2netp is known but its weights are not in the test model dir.
    with TestClient(create_app(settings)) as client:
        assert_error(post(client, png_bytes, model="u2netp"), 503, "model_not_available")


def test_real_model_on_a_real_photo(u2netp_settings: Settings, real_data) -> None:
    photo = sorted((real_data / "rembg_fixtures" / "images").glob("*.jpg"))[0]
    with TestClient(create_app(u2netp_settings)) as client:
        r = post(client, photo.read_bytes(), photo.name)
    assert r.status_code == 200
    alpha = np.asarray(open_png(r.content))[:, :, 3]
    assert alpha.shape == Image.open(photo).size[::-1]
    # A real cut-out: both clear background and solid subject.
    assert (alpha < 16).mean() > 0.2 and (alpha > 240).mean() > 0.05
