"""The fakes refuse what the real services refuse, with the documented status and body, and
answer successes with realistic bodies and headers. Raw httpx: no bgbye client involved."""

from __future__ import annotations

import io
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_image
from tests.fakes import FakeProvider, ellipse_alpha, running_fake
from tests.fakes.server import parse_multipart


def _jpeg(width: int = 80, height: int = 60) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(make_image(width, height)).save(buf, "JPEG")
    return buf.getvalue()


def _image(content: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(content))
    img.load()
    return img


Files = dict[str, tuple[str, bytes, str]]
FILE: Files = {"image_file": ("photo.jpg", _jpeg(), "image/jpeg")}


# --- remove.bg --------------------------------------------------------------------------------

def _removebg(fake: FakeProvider, headers: dict[str, str] | None = None,
              files: Files = FILE, data: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{fake.url}/removebg", headers=headers if headers is not None
                      else {"X-Api-Key": fake.key}, files=files, data=data or {})


def test_removebg_auth() -> None:
    with running_fake("removebg") as fake:
        missing = _removebg(fake, headers={})
        wrong = _removebg(fake, headers={"X-API-Key": "nope"})
        bearer = _removebg(fake, headers={"Authorization": f"Bearer {fake.key}"})
        lower = _removebg(fake, headers={"x-api-key": fake.key})
    assert missing.status_code == 403
    assert missing.json() == {"errors": [{"title": "Missing API Key", "code": "auth_failed"}]}
    assert wrong.status_code == 403
    assert wrong.json() == {"errors": [{"title": "API Key invalid", "code": "auth_failed"}]}
    assert bearer.status_code == 200 and lower.status_code == 200


@pytest.mark.parametrize(("data", "files", "code"), [
    ({}, {"image": FILE["image_file"]}, "unknown_parameter"),
    ({}, {}, "missing_source"),
    ({"image_url": "https://example.com/x.jpg"}, FILE, "multiple_sources"),
    ({"size": "huge"}, FILE, "invalid_parameter"),
    ({"format": "gif"}, FILE, "invalid_parameter"),
    ({"channels": "rgb"}, FILE, "invalid_parameter"),
    ({"crop": "yes"}, FILE, "invalid_parameter"),
    ({"bg_color": "#81d4fa"}, FILE, "invalid_parameter"),
    ({"bg_color": "fff", "bg_image_url": "https://example.com/b.jpg"}, FILE, "invalid_parameter"),
    ({"crop_margin": "10px"}, FILE, "invalid_parameter"),
], ids=["wrong-field-name", "no-image", "two-sources", "size", "format", "channels", "crop",
        "hash-colour", "two-backgrounds", "margin-without-crop"])
def test_removebg_rejects_bad_requests(data: dict, files: dict, code: str) -> None:
    with running_fake("removebg") as fake:
        resp = _removebg(fake, files=files, data=data)
        assert fake.credits == 100  # errors cost nothing
    assert resp.status_code == 400
    [err] = resp.json()["errors"]
    assert err["code"] == code and err["title"]


def test_removebg_image_problems() -> None:
    uniform = io.BytesIO()
    Image.new("RGB", (50, 50), (128, 128, 128)).save(uniform, "PNG")
    gif = io.BytesIO()
    Image.new("RGB", (50, 50)).save(gif, "GIF")
    with running_fake("removebg") as fake:
        no_fg = _removebg(fake, files={"image_file": ("u.png", uniform.getvalue(), "image/png")})
        bad = _removebg(fake, files={"image_file": ("g.gif", gif.getvalue(), "image/gif")})
        url = httpx.post(f"{fake.url}/removebg", headers={"X-Api-Key": fake.key},
                         data={"image_url": "https://example.com/404.jpg"})
    assert no_fg.json()["errors"][0]["code"] == "unknown_foreground"
    assert bad.json()["errors"][0]["code"] == "invalid_file_type"
    assert url.status_code == 400  # urlencoded bodies work; the URL cannot be fetched
    assert url.json()["errors"][0]["title"].startswith("Failed to download image")


def test_removebg_success_body_and_headers() -> None:
    with running_fake("removebg") as fake:
        resp = _removebg(fake, data={"size": "preview"})
        auto = _removebg(fake, data={"bg_color": "81d4fa"})
        zipped = _removebg(fake, data={"format": "zip", "size": "full"})
        account = httpx.get(f"{fake.url}/account", headers={"X-Api-Key": fake.key})
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["x-credits-charged"] == "0.25"
    assert resp.headers["x-ratelimit-limit"] == "500"
    assert int(resp.headers["x-ratelimit-reset"]) > 1_600_000_000
    img = _image(resp.content)
    assert img.mode == "RGBA" and img.size == (80, 60)
    assert (resp.headers["x-width"], resp.headers["x-height"]) == ("80", "60")
    np.testing.assert_array_equal(np.asarray(img.getchannel("A")), ellipse_alpha(80, 60))
    assert auto.headers["content-type"] == "image/jpeg"  # format=auto, opaque -> JPG
    assert auto.headers["x-credits-charged"] == "0.25"  # size defaults to preview
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as zf:
        assert sorted(zf.namelist()) == ["alpha.png", "color.jpg"]
    assert account.json()["data"]["attributes"]["credits"]["total"] == 100 - 0.25 - 0.25 - 1


def test_removebg_runs_out_of_credits() -> None:
    with running_fake("removebg", credits=0.5) as fake:
        first = _removebg(fake, data={"size": "preview"})
        second = _removebg(fake, data={"size": "full"})
    assert first.status_code == 200
    assert second.status_code == 402
    assert second.json()["errors"][0]["code"] == "insufficient_credits"


def test_modes_limited_by_times_then_ok() -> None:
    with running_fake("removebg", mode="429", times=1, retry_after=5) as fake:
        limited = _removebg(fake)
        ok = _removebg(fake)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "5"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert ok.status_code == 200


@pytest.mark.parametrize("provider", ["removebg", "clipdrop", "photoroom"])
def test_drop_mode_closes_without_answering(provider: str) -> None:
    with running_fake(provider, mode="drop") as fake:
        path = {"removebg": "/removebg", "clipdrop": "/remove-background/v1",
                "photoroom": "/v1/segment"}[provider]
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(fake.url + path, headers={"x-api-key": fake.key}, files=FILE)


# --- Clipdrop ---------------------------------------------------------------------------------

def _clipdrop(fake: FakeProvider, headers: dict[str, str] | None = None,
              files: Files = FILE, data: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{fake.url}/remove-background/v1", files=files, data=data or {},
                      headers={"x-api-key": fake.key} if headers is None else headers)


def test_clipdrop_contract() -> None:
    with running_fake("clipdrop", credits=1) as fake:
        missing = _clipdrop(fake, headers={})
        wrong = _clipdrop(fake, headers={"x-api-key": "nope"})
        bad_accept = _clipdrop(fake, headers={"x-api-key": fake.key, "Accept": "text/html"})
        renamed = _clipdrop(fake, files={"file": FILE["image_file"]})
        bad_value = _clipdrop(fake, data={"transparency_handling": "keep"})
        webp = _clipdrop(fake, headers={"x-api-key": fake.key, "Accept": "image/webp"})
        broke = _clipdrop(fake)
    assert (missing.status_code, missing.json()) == (401, {"error": "No api key provided"})
    assert (wrong.status_code, wrong.json()) == (403, {"error": "Invalid or revocated api key"})
    assert (bad_accept.status_code, bad_accept.json()) == (
        406, {"error": "Accept header not acceptable"})
    assert renamed.status_code == 400 and "missing image_file" in renamed.json()["error"]
    assert bad_value.status_code == 400 and "transparency_handling" in bad_value.json()["error"]
    assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
    assert _image(webp.content).size == (80, 60)
    assert webp.headers["x-credits-consumed"] == "1"
    assert webp.headers["x-remaining-credits"] == "0"
    assert broke.status_code == 402 and "no remaining credits" in broke.json()["error"]


def test_clipdrop_returns_transparent_input_unchanged() -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:15, 5:25] = 200
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    with running_fake("clipdrop") as fake:
        same = _clipdrop(fake, files={"image_file": ("a.png", buf.getvalue(), "image/png")})
        redone = _clipdrop(fake, files={"image_file": ("a.png", buf.getvalue(), "image/png")},
                           data={"transparency_handling": "discard_alpha_layer"})
    assert same.content == buf.getvalue()
    assert redone.content != buf.getvalue()


# --- Photoroom --------------------------------------------------------------------------------

def _photoroom(fake: FakeProvider, headers: dict[str, str] | None = None,
               files: Files = FILE, data: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{fake.url}/v1/segment", files=files, data=data or {},
                      headers={"x-api-key": fake.key} if headers is None else headers)


@pytest.mark.parametrize("data", [{"format": "gif"}, {"channels": "rgb"}, {"size": "4k"},
                                  {"crop": "True"}, {"despill": "1"}, {"bg_color": "#12"},
                                  {"bg_color": "notacolour"}, {"background": "red"}])
def test_photoroom_rejects_bad_values(data: dict) -> None:
    with running_fake("photoroom") as fake:
        resp = _photoroom(fake, data=data)
    assert resp.status_code == 400
    body = resp.json()
    assert body["status_code"] == 400 and body["type"] == "invalid_parameter" and body["detail"]


def test_photoroom_contract() -> None:
    with running_fake("photoroom") as fake:
        missing = _photoroom(fake, headers={})
        wrong = _photoroom(fake, headers={"x-api-key": "nope"})
        no_image = _photoroom(fake, files={"image": FILE["image_file"]})
        ok = _photoroom(fake, data={"bg_color": "#FF00FF", "format": "jpg", "crop": "true"})
        sandbox = _photoroom(fake, headers={"x-api-key": f"sandbox_{fake.key}"},
                             data={"channels": "alpha", "size": "preview"})
    assert (missing.status_code, missing.content) == (403, b"")
    assert (wrong.status_code, wrong.content) == (403, b"")
    assert no_image.status_code == 400
    assert no_image.json() == {"detail": "Please provide an image.", "status_code": 400,
                               "type": "missing_image"}
    assert ok.headers["content-type"] == "image/jpeg"
    assert float(ok.headers["x-uncertainty-score"]) == pytest.approx(0.12)
    assert _image(ok.content).size[0] < 80  # cropped to the subject
    assert _image(sandbox.content).mode == "L"


def test_multipart_parser_keeps_binary_bytes_exactly() -> None:
    payload = bytes(range(256)) * 4 + b"\r\n--not-the-boundary\r\n"
    req = httpx.Request("POST", "http://x/", files={"f": ("b.bin", payload, "application/x")},
                        data={"a": "1"})
    fields, files = parse_multipart(req.read(), req.headers["content-type"])
    assert fields == {"a": "1"}
    assert files["f"].data == payload and files["f"].filename == "b.bin"
