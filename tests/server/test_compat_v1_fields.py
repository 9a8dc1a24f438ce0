"""bgbye's own /v1 API: unknown fields are refused by name; ``image_url`` fetches the photo."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bgbye.server.app import create_app
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.server.compat_fixtures import image_server  # noqa: F401 - fixture
from tests.server.conftest import assert_error, open_png


@pytest.fixture
def fetching(settings: Settings) -> Any:
    settings.fetch_allow = "127.0.0.1"
    with TestClient(create_app(settings)) as c:
        yield c


def test_unknown_query_fields_are_named(client: TestClient, png_bytes: bytes) -> None:
    # rembg's options sent to bgbye's API: refused, not silently ignored.
    r = client.post("/v1/remove?om=true&a=true", files={"image": ("a.png", png_bytes)})
    err = assert_error(r, 422, "unknown_field")
    assert "a, om" in err["message"]


def test_unknown_form_fields_are_named(client: TestClient, png_bytes: bytes) -> None:
    r = client.post("/v1/remove", files={"image": ("a.png", png_bytes)},
                    data={"format": "png", "only_mask": "true"})
    assert "only_mask" in assert_error(r, 422, "unknown_field")["message"]
    r = client.post("/v1/jobs", files={"images": ("a.png", png_bytes)}, data={"size": "hd"})
    assert "size" in assert_error(r, 422, "unknown_field")["message"]
    assert_error(client.get("/v1/models?verbose=1"), 422, "unknown_field")


def test_seed_routes_refuse_unknown_fields_too(client: TestClient, png_bytes: bytes) -> None:
    r = client.post("/process/local", files={"image": ("a.png", png_bytes)},
                    data={"model": "tiny", "format": "webp"})
    assert "format" in assert_error(r, 422, "unknown_field")["message"]
    r = client.post("/process/local", files={"image": ("a.png", png_bytes)}, data={"model": ""})
    assert r.status_code == 200, r.text


def test_known_fields_still_work(client: TestClient, png_bytes: bytes) -> None:
    r = client.post("/v1/remove", files={"image": ("a.png", png_bytes)},
                    data={"format": "webp", "mask_only": "false", "crop": "false"})
    assert r.status_code == 200, r.text


def test_image_url(fetching: TestClient, image_server: Any) -> None:  # noqa: F811
    url = image_server.add("/v1-photo.png", image_bytes("PNG"))
    r = fetching.post("/v1/remove", data={"image_url": url})
    assert r.status_code == 200, r.text
    img = open_png(r.content)
    assert img.size == (64, 48)
    alpha = np.asarray(img)[:, :, 3]
    assert alpha[24, 32] > 150 and alpha[1, 1] < 30
    assert 'filename="v1-photo.png"' in r.headers["content-disposition"]


def test_image_url_errors(fetching: TestClient, png_bytes: bytes,
                          image_server: Any) -> None:  # noqa: F811
    assert_error(fetching.post("/v1/remove", data={"image_url": "http://10.0.0.1/a.png"}),
                 400, "url_refused")
    url = image_server.add("/v1-photo2.png", png_bytes)
    assert_error(fetching.post("/v1/remove", data={"image_url": image_server.base + "/nope"}),
                 400, "url_fetch_failed")
    assert_error(fetching.post("/v1/remove", data={"image_url": url},
                               files={"image": ("a.png", png_bytes)}), 422, "invalid_option")
    assert_error(fetching.post("/v1/remove", data={"format": "png"}), 400, "missing_field")
