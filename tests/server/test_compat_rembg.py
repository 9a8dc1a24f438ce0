"""rembg's server API (``rembg s``): ``POST|GET /api/remove``, driven over HTTP the way rembg's
README shows (a multipart ``file``, query options), on a live bgbye."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import image_bytes
from tests.server.compat_fixtures import (
    API_KEY,
    assert_cutout,
    bgbye_url,  # noqa: F401 - fixture
    image_server,  # noqa: F401 - fixture
    open_image,
)

KEY = {"X-API-Key": API_KEY}


def post(url: str, data: dict[str, str] | None = None, params: dict[str, str] | None = None,
         body: bytes | None = None) -> httpx.Response:
    files = {"file": ("photo.png", body if body is not None else image_bytes("PNG"),
                      "image/png")}
    return httpx.post(f"{url}/api/remove", files=files, data=data, params=params, headers=KEY,
                      timeout=30)


def test_upload_is_a_cutout(bgbye_url: str) -> None:  # noqa: F811
    r = post(bgbye_url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert_cutout(open_image(r.content))


def test_only_mask_and_background_colour(bgbye_url: str) -> None:  # noqa: F811
    mask = open_image(post(bgbye_url, data={"om": "true"}).content)
    assert mask.mode == "L" and np.asarray(mask)[24, 32] > 150 and np.asarray(mask)[1, 1] < 30
    r = post(bgbye_url, params={"bgc": "0,0,255,255"})  # rembg reads bgc from the query
    px = np.asarray(open_image(r.content).convert("RGB")).astype(int)
    assert np.abs(px[1, 1] - (0, 0, 255)).max() <= 20
    half = open_image(post(bgbye_url, params={"bgc": "0,0,255,128"}).content)
    assert half.mode == "RGBA" and 120 <= np.asarray(half)[1, 1, 3] <= 140


def test_matting_thresholds_without_matting_are_accepted(bgbye_url: str) -> None:  # noqa: F811
    r = post(bgbye_url, data={"a": "false", "af": "240", "ab": "10", "ae": "10", "ppm": "false"})
    assert r.status_code == 200, r.text


def test_url(bgbye_url: str, image_server: Any) -> None:  # noqa: F811
    url = image_server.add("/rembg.png", image_bytes("PNG"))
    r = httpx.get(f"{bgbye_url}/api/remove", params={"url": url}, headers=KEY, timeout=30)
    assert r.status_code == 200, r.text
    assert_cutout(open_image(r.content))
    r = httpx.get(f"{bgbye_url}/api/remove", params={"url": "http://169.254.169.254/x"},
                  headers=KEY, timeout=30)
    assert r.status_code == 400 and "169.254.169.254" in r.json()["detail"]


@pytest.mark.parametrize(("data", "params", "named"), [
    ({"a": "true"}, None, "alpha matting"),
    ({"ppm": "true"}, None, "ppm"),
    (None, {"extras": '{"sam_prompt": []}'}, "extras"),
    ({"om": "true", "sharpen": "1"}, None, "sharpen"),
    ({"model": "no-such-model"}, None, "no-such-model"),
    (None, {"bgc": "0,0,300,255"}, "bgc"),
    ({"af": "999"}, None, "af"),
])
def test_unsupported_and_bad_options_are_a_422(bgbye_url: str, data: Any, params: Any,  # noqa: F811
                                               named: str) -> None:
    r = post(bgbye_url, data=data, params=params)
    assert r.status_code == 422, r.text
    assert named in r.json()["detail"]


def test_errors_keep_rembgs_shape(bgbye_url: str) -> None:  # noqa: F811
    r = post(bgbye_url, body=b"not an image")
    assert r.status_code == 415 and "detail" in r.json()
    r = httpx.post(f"{bgbye_url}/api/remove", data={"om": "true"}, headers=KEY, timeout=30)
    assert r.status_code == 422 and "file" in r.json()["detail"]
    r = httpx.post(f"{bgbye_url}/api/remove", files={"file": ("a.png", image_bytes("PNG"))},
                   timeout=30)
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]


def test_url_options_and_missing_url(bgbye_url: str, image_server: Any) -> None:  # noqa: F811
    url = image_server.add("/rembg-mask.png", image_bytes("PNG"))
    r = httpx.get(f"{bgbye_url}/api/remove", params={"url": url, "om": "True"}, headers=KEY,
                  timeout=30)
    assert open_image(r.content).mode == "L"
    r = httpx.get(f"{bgbye_url}/api/remove", params={"om": "true"}, headers=KEY, timeout=30)
    assert r.status_code == 422 and "url" in r.json()["detail"]
