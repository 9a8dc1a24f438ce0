"""POST /v1.0/removebg field by field (bodies, spellings, geometry, headers, errors), in-process."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bgbye.server.app import create_app
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.server.compat_fixtures import image_server, open_image  # noqa: F401 - fixture
from tests.server.conftest import FakeEngine, inject

PNG = image_bytes("PNG")
B64 = base64.b64encode(PNG).decode()


def call(client: TestClient, *, json: Any = None, files: Any = None, headers: Any = None,
         **form: str) -> Any:
    if json is not None:
        return client.post("/v1.0/removebg", json=json, headers=headers)
    return client.post("/v1.0/removebg", data=form, files=files, headers=headers)


def errors_of(r: Any, status: int, code: str) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    err: dict[str, str] = body["errors"][0]
    assert err["code"] == code and err["title"] and "Traceback" not in r.text
    return err


@pytest.fixture
def box(client: TestClient) -> TestClient:
    """The default model replaced by the test engine that keeps the central half (a box)."""
    inject(client, "tiny", FakeEngine("tiny"))
    return client


def test_json_body_with_json_booleans(client: TestClient) -> None:
    r = call(client, json={"image_file_b64": B64, "crop": False, "size": "full",
                           "bg_color": None, "scale": ""})
    assert r.status_code == 200, r.text
    assert open_image(r.content).size == (64, 48)


@pytest.mark.parametrize("spelling", ["true", "True", "TRUE", "1", "yes", "on"])
def test_boolean_spellings(box: TestClient, spelling: str) -> None:
    r = call(box, image_file_b64=B64, crop=spelling)
    assert open_image(r.content).size == (32, 24)


def test_urlencoded_body(box: TestClient) -> None:
    r = box.post("/v1.0/removebg", content=f"image_file_b64={B64.replace('+', '%2B')}"
                 "&crop=true&format=png", headers={"Content-Type":
                                                   "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert open_image(r.content).size == (32, 24)


def test_json_result_and_foreground_headers(box: TestClient) -> None:
    r = call(box, image_file_b64=B64, headers={"Accept": "application/json"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert open_image(base64.b64decode(data["result_b64"])).size == (64, 48)
    assert (data["foreground_left"], data["foreground_top"]) == (16, 12)
    assert (data["foreground_width"], data["foreground_height"]) == (32, 24)
    assert r.headers["x-foreground-left"] == "16" and r.headers["x-foreground-width"] == "32"
    assert r.headers["x-credits-charged"] == "0" and r.headers["x-type"] == "other"
    assert int(r.headers["x-ratelimit-reset"]) > 1_700_000_000


def test_type_level_none_omits_x_type(box: TestClient) -> None:
    assert "x-type" not in call(box, image_file_b64=B64, type_level="none").headers
    assert call(box, image_file_b64=B64, type="car").headers["x-type"] == "car"


def test_roi_limits_the_foreground(box: TestClient) -> None:
    alpha = np.asarray(open_image(call(box, image_file_b64=B64, roi="0 0 50% 100%").content))
    assert alpha[24, 20, 3] == 255 and alpha[24, 40, 3] == 0  # right half removed
    alpha = np.asarray(open_image(call(box, image_file_b64=B64, roi="0px 0px 30px 48px",
                                       crop="true").content))
    assert alpha.shape[:2] == (24, 14)  # x 16..30 of the box


def test_scale_and_position(box: TestClient) -> None:
    img = open_image(call(box, image_file_b64=B64, scale="50%", size="full").content)
    assert img.size == (64, 48)  # the canvas stays
    left, top, width, height = box_of(np.asarray(img)[:, :, 3])
    assert (width, height) == (32, 24)  # 50% of the largest fit (64x48)
    assert (left, top) == (16, 12)  # centred
    img = open_image(call(box, image_file_b64=B64, scale="50%", position="0% 100%").content)
    assert box_of(np.asarray(img)[:, :, 3])[:2] == (0, 24)
    img = open_image(call(box, image_file_b64=B64, position="100%").content)
    assert box_of(np.asarray(img)[:, :, 3])[:2] == (32, 24)


def box_of(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha > 16)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def test_crop_margin_forms(box: TestClient) -> None:
    def size(margin: str) -> tuple[int, int]:
        return open_image(call(box, image_file_b64=B64, crop="true",  # type: ignore[no-any-return]
                               crop_margin=margin).content).size
    assert size("2px") == (36, 28)
    assert size("1px 3px") == (38, 26)
    assert size("1px 2px 3px 4px") == (38, 28)
    assert size("10%") == (32 + 2 * 3, 24 + 2 * 2)  # % of the subject: 3.2 and 2.4 px


def test_background_image_file_and_url(box: TestClient, settings: Settings,
                                       image_server: Any) -> None:  # noqa: F811
    bg = image_bytes("PNG", 10, 10)
    r = call(box, files={"bg_image_file": ("bg.png", bg, "image/png")}, image_file_b64=B64)
    assert open_image(r.content).format == "JPEG"  # auto: nothing transparent is left
    settings.fetch_allow = "127.0.0.1"
    url = image_server.add("/bg.png", bg)
    r = call(box, image_file_b64=B64, bg_image_url=url, format="png")
    assert open_image(r.content).mode == "RGB"


def test_semitransparent_colour_stays_png(box: TestClient) -> None:
    img = open_image(call(box, image_file_b64=B64, bg_color="ff000080").content)
    assert img.format == "PNG" and img.mode == "RGBA"
    assert abs(int(np.asarray(img)[1, 1, 3]) - 128) <= 1


def test_shadows_and_semitransparency_are_accepted(box: TestClient) -> None:
    r = call(box, image_file_b64=B64, add_shadow="true", shadow_type="drop",
             shadow_opacity="50", semitransparency="false")
    assert r.status_code == 200


@pytest.mark.parametrize(("form", "code"), [
    ({}, "missing_source"),
    ({"image_file_b64": B64, "image_url": "http://example.com/a.png"}, "multiple_sources"),
    ({"image_file_b64": B64, "bg_color": "fff", "bg_image_url": "http://e.com/b.png"},
     "multiple_bg_sources"),
    ({"image_file_b64": "%%%"}, "failed_to_read_image"),
    ({"image_file_b64": base64.b64encode(b"GIF89a nope").decode()}, "invalid_file_type"),
    ({"image_file_b64": B64, "size": "xl"}, "invalid_size"),
    ({"image_file_b64": B64, "format": "gif"}, "invalid_format"),
    ({"image_file_b64": B64, "channels": "rgb"}, "invalid_channels"),
    ({"image_file_b64": B64, "roi": "0 0 100%"}, "invalid_roi"),
    ({"image_file_b64": B64, "roi": "10 0 5 48"}, "invalid_roi"),
    ({"image_file_b64": B64, "roi": "0 0 65px 48px"}, "roi_exceeds_bounds"),
    ({"image_file_b64": B64, "crop_margin": "60%"}, "invalid_crop_margin"),
    ({"image_file_b64": B64, "crop_margin": "1px 2px 3px"}, "invalid_crop_margin"),
    ({"image_file_b64": B64, "scale": "5%"}, "invalid_scale"),
    ({"image_file_b64": B64, "position": "left"}, "invalid_position"),
    ({"image_file_b64": B64, "semitransparency": "maybe"}, "invalid_semitransparency"),
    ({"image_file_b64": B64, "bg_color": "#12"}, "invalid_bg_color"),
    ({"image_file_b64": B64, "image_file": "text"}, "multiple_sources"),
    ({"image_file_b64": B64, "bg_image_url": "ftp://x/b.png"}, "invalid_bg_image_url"),
    ({"image_file_b64": B64, "channels": "alpha", "bg_color": "fff"}, "invalid_channels"),
    ({"image_file_b64": B64, "despill": "true"}, "unknown_parameter"),
    ({"image_url": "http://169.254.169.254/"}, "invalid_image_url"),
])
def test_400_codes(client: TestClient, form: dict[str, str], code: str) -> None:
    err = errors_of(call(client, **form), 400, code)
    assert err["detail"]


def test_bad_bodies_are_400s(client: TestClient) -> None:
    r = client.post("/v1.0/removebg", content=b"{not json",
                    headers={"Content-Type": "application/json"})
    errors_of(r, 400, "invalid_parameters")
    errors_of(call(client, json={"image_file_b64": {"nested": 1}}), 400, "invalid_request")
    errors_of(client.post("/v1.0/removebg", json=[1, 2]), 400, "invalid_parameters")


def test_auth(settings: Settings) -> None:
    settings.api_keys = "k1"
    with TestClient(create_app(settings)) as c:
        for r in (call(c, image_file_b64=B64), c.get("/v1.0/account"),
                  c.get("/v1.0/account", headers={"X-Api-Key": "k2"})):
            err = errors_of(r, 403, "auth_failed")
            assert err["title"] == "API Key invalid"
        assert c.get("/v1.0/account", headers={"X-Api-Key": "k1"}).status_code == 200


def test_queue_full_is_a_429_with_retry_after(settings: Settings) -> None:
    settings.threads, settings.queue_size = 1, 0
    gate = threading.Event()
    with TestClient(create_app(settings)) as c:
        engine = FakeEngine("tiny", gate=gate)
        inject(c, "tiny", engine)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(call, c, image_file_b64=B64)
            deadline = time.monotonic() + 60  # the first request holds the only slot
            while not engine.calls and time.monotonic() < deadline:
                time.sleep(0.02)
            assert engine.calls, "the first request never reached the engine"
            r = call(c, image_file_b64=B64)
            gate.set()
            assert first.result().status_code == 200
        errors_of(r, 429, "rate_limit_exceeded")
        assert int(r.headers["retry-after"]) >= 1


def test_unknown_path_and_method_keep_the_envelope(client: TestClient) -> None:
    errors_of(client.get("/v1.0/nothing"), 404, "not_found")
    errors_of(client.get("/v1.0/removebg"), 405, "method_not_allowed")


def test_body_over_the_limit_keeps_the_envelope(settings: Settings) -> None:
    settings.max_upload_bytes = 10_000  # the body limit is 2 x that + 1 MiB
    with TestClient(create_app(settings)) as c:
        big = {"image_file": ("a.png", bytes(1_200_000), "image/png")}
        errors_of(c.post("/v1.0/removebg", files=big), 400, "file_too_large")
        r = c.post("/api/remove", files={"file": ("a.png", bytes(1_200_000), "image/png")})
        assert r.status_code == 413 and "limit" in r.json()["detail"]


@pytest.mark.parametrize(("colour", "rgb"), [("lightblue", (173, 216, 230)),
                                             ("green", (0, 128, 0)),  # CSS green
                                             ("#81d4fa", (129, 212, 250)), ("f00", (255, 0, 0))])
def test_colour_names_and_hex(box: TestClient, colour: str, rgb: tuple[int, int, int]) -> None:
    img = open_image(call(box, image_file_b64=B64, bg_color=colour, format="png").content)
    assert tuple(np.asarray(img.convert("RGB"))[1, 1]) == rgb
    errors_of(call(box, image_file_b64=B64, bg_color="rgb(1,2,3)"), 400, "invalid_bg_color")


def test_no_foreground_is_unknown_foreground(client: TestClient) -> None:
    from tests.server.compat_fixtures import flat_png

    flat = base64.b64encode(flat_png(64, 48)).decode()  # dark and flat: the tiny model keeps none
    err = errors_of(call(client, image_file_b64=flat), 400, "unknown_foreground")
    assert err["title"] == "Could not identify foreground in image"
