"""Real remove.bg clients from PyPI, unchanged but for their base URL, against a live bgbye:
``remove-bg-api`` (its ``API_URL``) and ``removebg`` (its ``API_ENDPOINT``)."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import remove_bg_api
import removebg.removebg as removebg_module
import requests

from tests.conftest import image_bytes
from tests.server.compat_fixtures import (
    API_KEY,
    assert_cutout,
    bgbye_url,  # noqa: F401 - fixture
    flat_png,
    image_server,  # noqa: F401 - fixture
    noise_png,
    open_image,
    photo_file,
)


@pytest.fixture
def client(bgbye_url: str, monkeypatch: pytest.MonkeyPatch) -> remove_bg_api.RemoveBg:  # noqa: F811
    monkeypatch.setattr(remove_bg_api, "API_URL", f"{bgbye_url}/v1.0")
    return remove_bg_api.RemoveBg(API_KEY)  # its constructor calls GET /account


@pytest.fixture
def brilam(bgbye_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
           tmp_path: Path) -> removebg_module.RemoveBg:
    monkeypatch.setattr(removebg_module, "API_ENDPOINT", f"{bgbye_url}/v1.0/removebg")
    return removebg_module.RemoveBg(API_KEY, str(tmp_path / "removebg-errors.log"))


# -- remove-bg-api ---------------------------------------------------------------------------

def test_account_balance_is_read(client: remove_bg_api.RemoveBg) -> None:
    assert client.account.balance() > 0
    assert client.account.free_api_calls() > 0
    assert set(client.account.get_balance_dict()) == {"total", "subscription", "payg",
                                                      "enterprise"}


def test_file_upload(client: remove_bg_api.RemoveBg, tmp_path: Path) -> None:
    before = client.account.balance()
    out = client.remove_bg_file(str(photo_file(tmp_path)), raw=True)
    assert_cutout(open_image(out))
    assert client.account.balance() == before  # it subtracted int(X-Credits-Charged) == 0


def test_base64(client: remove_bg_api.RemoveBg) -> None:
    out = client.remove_bg_base64(base64.b64encode(image_bytes("JPEG", quality=92)).decode())
    assert_cutout(open_image(out))


def test_image_url(client: remove_bg_api.RemoveBg, image_server: Any) -> None:  # noqa: F811
    url = image_server.add("/photo.png", image_bytes("PNG"))
    assert_cutout(open_image(client.remove_bg_url(url)))


def test_bg_color_gives_a_jpeg_on_that_colour(client: remove_bg_api.RemoveBg) -> None:
    data = {"size": "preview", "format": "auto", "bg_color": "00ff00"}
    img = open_image(client.remove_bg_bytes(image_bytes("PNG"), data=data))
    assert img.format == "JPEG"  # format=auto and no transparency left: JPG, as remove.bg does
    px = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(px[1, 1] - (0, 255, 0)).max() <= 20  # background: green
    assert px[24, 32, 0] > 150  # the subject keeps its colour (220, 180, 90)


def test_size_preview_is_at_most_a_quarter_megapixel(client: remove_bg_api.RemoveBg) -> None:
    big = image_bytes("JPEG", 1000, 800, quality=80)
    img = open_image(client.remove_bg_bytes(big, size="preview"))
    width, height = img.size
    assert 240_000 <= width * height <= 250_000
    assert abs(width / height - 1000 / 800) < 0.01
    full = open_image(client.remove_bg_bytes(big, size="full"))
    assert full.size == (1000, 800)


def test_crop_with_margin(client: remove_bg_api.RemoveBg) -> None:
    # Booleans travel as str(False)/str(True): "True" must mean true.
    data = {"size": "preview", "crop": True, "crop_margin": "0"}
    tight = open_image(client.remove_bg_bytes(image_bytes("PNG"), data=data)).size
    assert 28 <= tight[0] <= 38 and 28 <= tight[1] <= 38  # the disc, diameter 32
    data = {"size": "preview", "crop": True, "crop_margin": "10px 5px"}
    padded = open_image(client.remove_bg_bytes(image_bytes("PNG"), data=data)).size
    assert padded == (tight[0] + 10, tight[1] + 20)
    not_cropped = {"size": "preview", "crop": False, "crop_margin": "10px"}
    assert open_image(client.remove_bg_bytes(image_bytes("PNG"), data=not_cropped)).size == (
        64, 48)


def test_channels_alpha_is_the_mask(client: remove_bg_api.RemoveBg) -> None:
    img = open_image(client.remove_bg_bytes(image_bytes("PNG"),
                                            data={"channels": "alpha", "size": "full"}))
    assert img.mode == "L" and img.size == (64, 48)
    mask = np.asarray(img)
    assert mask[24, 32] > 150 and mask[1, 1] < 30


def test_format_jpg_is_on_white(client: remove_bg_api.RemoveBg) -> None:
    img = open_image(client.remove_bg_bytes(image_bytes("PNG"), data={"format": "jpg"}))
    assert img.format == "JPEG" and img.mode == "RGB"
    assert np.asarray(img)[1, 1].min() > 230


def test_format_zip_holds_colour_and_alpha(client: remove_bg_api.RemoveBg) -> None:
    out = client.remove_bg_bytes(image_bytes("PNG"), data={"format": "zip"})
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert sorted(zf.namelist()) == ["alpha.png", "color.jpg"]
        color = open_image(zf.read("color.jpg"))
        alpha = open_image(zf.read("alpha.png"))
    assert color.format == "JPEG" and color.size == (64, 48)
    assert alpha.mode == "L" and alpha.size == (64, 48)
    assert np.asarray(alpha)[24, 32] > 150 and np.asarray(alpha)[1, 1] < 30
    assert np.asarray(color)[24, 32, 0] > 150


@pytest.mark.parametrize("data", [
    {"size": "preview"},  # no image at all: the client sends only the size
    {"image_file_b64": "", "size": "preview"},  # "" is unset
])
def test_no_image_is_a_400(client: remove_bg_api.RemoveBg, data: dict[str, str]) -> None:
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.__process_response__(client.send_request("removebg", "POST", data), True, True)


def test_bad_key_is_a_403(bgbye_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(remove_bg_api, "API_URL", f"{bgbye_url}/v1.0")
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode403):
        remove_bg_api.RemoveBg("not-the-key")


def test_bad_colour_is_a_400(client: remove_bg_api.RemoveBg) -> None:
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_bytes(image_bytes("PNG"), data={"bg_color": "not-a-colour"})


def test_too_large_is_a_400(client: remove_bg_api.RemoveBg) -> None:
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_bytes(noise_png(700, 700))  # ~1.5 MB > the 1 MB limit
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_bytes(flat_png(2000, 1500))  # 3 MP > the 2 MP limit


def test_refused_address_is_a_400(client: remove_bg_api.RemoveBg,
                                  image_server: Any) -> None:  # noqa: F811
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_url("http://169.254.169.254/latest/meta-data/photo.png")
    # An allowed host that redirects to a refused address: checked again on the redirect.
    hop = image_server.redirect("/hop.png", "http://10.20.30.40/photo.png")
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_url(hop)


# -- removebg (brilam/remove-bg, linked from remove.bg's API page) ----------------------------

def test_removebg_file_with_colour(brilam: removebg_module.RemoveBg, tmp_path: Path) -> None:
    path = photo_file(tmp_path)
    brilam.remove_background_from_img_file(str(path))  # size=regular (= preview)
    assert_cutout(open_image(Path(f"{path}_no_bg.png").read_bytes()))
    brilam.remove_background_from_img_file(str(path), bg_color="ff0000")
    img = open_image(Path(f"{path}_no_bg.png").read_bytes())
    # The client names the file .png whatever it is: remove.bg's auto format gave a JPEG.
    assert img.format == "JPEG"
    assert np.abs(np.asarray(img)[1, 1].astype(int) - (255, 0, 0)).max() <= 20


def test_removebg_url_and_base64(brilam: removebg_module.RemoveBg, image_server: Any,  # noqa: F811
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = image_server.add("/brilam.jpg", image_bytes("JPEG", quality=92), "image/jpeg")
    brilam.remove_background_from_img_url(url, new_file_name="from-url.png")
    assert_cutout(open_image((tmp_path / "from-url.png").read_bytes()))
    b64 = base64.b64encode(image_bytes("JPEG", 1000, 800, quality=80)).decode()
    brilam.remove_background_from_base64_img(b64, new_file_name="from-b64.png")
    width, height = open_image((tmp_path / "from-b64.png").read_bytes()).size
    assert width * height <= 250_000 and width * height >= 240_000  # size=regular


def _status_and_code(exc: requests.HTTPError) -> tuple[int, str]:
    assert exc.response is not None
    return exc.response.status_code, exc.response.json()["errors"][0]["code"]


def test_removebg_errors(brilam: removebg_module.RemoveBg, bgbye_url: str,  # noqa: F811
                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = photo_file(tmp_path)
    with pytest.raises(requests.HTTPError) as err:
        brilam.remove_background_from_img_file(str(path), bg_color="#12345")
    assert _status_and_code(err.value) == (400, "invalid_bg_color")
    with pytest.raises(requests.HTTPError) as err:
        brilam.remove_background_from_img_url("http://127.0.0.2:9/x.png")  # not allowed
    assert _status_and_code(err.value) == (400, "invalid_image_url")
    with pytest.raises(requests.HTTPError) as err:
        brilam.remove_background_from_base64_img("")  # no image
    assert _status_and_code(err.value) == (400, "missing_source")
    bad = removebg_module.RemoveBg("wrong-key", str(tmp_path / "e.log"))
    with pytest.raises(requests.HTTPError) as err:
        bad.remove_background_from_img_file(str(path))
    assert _status_and_code(err.value) == (403, "auth_failed")
    big = tmp_path / "big.png"
    big.write_bytes(noise_png(700, 700))
    with pytest.raises(requests.HTTPError) as err:
        brilam.remove_background_from_img_file(str(big))
    assert _status_and_code(err.value) == (400, "file_too_large")
