"""Clipdrop (with the real PyPI ``pyclipdrop`` client, GPL-3.0, a test dependency only) and
Photoroom v1 ``/v1/segment`` against a live bgbye."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import pytest
from pyclipdrop import ClipdropClient
from pyclipdrop.exceptions import APIRequestError

from tests.conftest import image_bytes
from tests.server.compat_fixtures import (
    API_KEY,
    assert_cutout,
    bgbye_url,  # noqa: F401 - fixture
    noise_png,
    open_image,
    photo_file,
)


def test_pyclipdrop_removes_the_background(bgbye_url: str, tmp_path: Path) -> None:  # noqa: F811
    client = ClipdropClient(API_KEY, base_url=bgbye_url)
    out = tmp_path / "out.png"
    client.remove_background(str(photo_file(tmp_path)), output_file=str(out))
    assert_cutout(open_image(out.read_bytes()))
    client.remove_background(str(photo_file(tmp_path)), "discard_alpha_layer", str(out))
    assert_cutout(open_image(out.read_bytes()))


def test_pyclipdrop_errors(bgbye_url: str, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(APIRequestError, match="Invalid API key"):
        ClipdropClient("wrong", base_url=bgbye_url).remove_background(
            str(photo_file(tmp_path)), output_file=str(tmp_path / "o.png"))
    big = tmp_path / "big.png"
    big.write_bytes(noise_png(700, 700))
    with pytest.raises(APIRequestError, match="limit"):
        ClipdropClient(API_KEY, base_url=bgbye_url).remove_background(
            str(big), output_file=str(tmp_path / "o.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(APIRequestError, match="Not a supported image"):
        ClipdropClient(API_KEY, base_url=bgbye_url).remove_background(
            str(bad), output_file=str(tmp_path / "o.png"))
    with pytest.raises(APIRequestError, match="not implemented"):
        ClipdropClient(API_KEY, base_url=bgbye_url).remove_background(
            str(photo_file(tmp_path)), "return_input_if_non_opaque", str(tmp_path / "o.png"))


def test_clipdrop_accept_and_headers(bgbye_url: str) -> None:  # noqa: F811
    files = {"image_file": ("a.png", image_bytes("PNG"), "image/png")}
    r = httpx.post(f"{bgbye_url}/remove-background/v1", files=files,
                   headers={"x-api-key": API_KEY, "Accept": "image/webp"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    assert r.headers["x-credits-consumed"] == "0" and int(r.headers["x-remaining-credits"]) > 0
    r = httpx.post(f"{bgbye_url}/remove-background/v1", files=files)
    assert r.status_code == 401 and "x-api-key" in r.json()["error"]


def segment(url: str, headers: dict[str, str] | None = None, **form: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/segment", data=form,
                      files={"image_file": ("a.png", image_bytes("PNG"), "image/png")},
                      headers={"x-api-key": API_KEY, **(headers or {})}, timeout=30)


def test_photoroom_segment(bgbye_url: str) -> None:  # noqa: F811
    assert_cutout(open_image(segment(bgbye_url).content))
    mask = open_image(segment(bgbye_url, channels="alpha").content)
    assert mask.mode == "L" and np.asarray(mask)[24, 32] > 150
    img = open_image(segment(bgbye_url, bg_color="FF0000", format="jpg").content)
    assert img.format == "JPEG"
    assert np.abs(np.asarray(img)[1, 1].astype(int) - (255, 0, 0)).max() <= 20
    cropped = open_image(segment(bgbye_url, crop="true", despill="true").content)
    assert 28 <= cropped.size[0] <= 38
    r = segment(bgbye_url, headers={"Accept": "application/json"})
    assert_cutout(open_image(base64.b64decode(r.json()["base64img"])))


def test_photoroom_errors(bgbye_url: str) -> None:  # noqa: F811
    r = segment(bgbye_url, format="gif")
    assert r.status_code == 400
    assert r.json() == {"detail": r.json()["detail"], "status_code": 400,
                        "type": "invalid_format"}
    assert segment(bgbye_url, size="huge").json()["type"] == "invalid_size"
    assert segment(bgbye_url, shadow="true").json()["type"] == "unknown_field"
    assert segment(bgbye_url, headers={"x-api-key": "nope"}).status_code == 403
