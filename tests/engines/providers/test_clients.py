"""Successful calls: what each client sends, and what it makes of the answer."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgbye import imageio
from bgbye.engines.base import Engine
from bgbye.engines.providers.base import ProviderRequest, Upload, upload_for
from bgbye.monitoring import Metrics
from tests.conftest import make_image
from tests.engines.providers.conftest import ClientFactory, jpeg_bytes
from tests.fakes import PROVIDERS, ellipse_alpha, running_fake

Photo = tuple[np.ndarray, bytes]



@pytest.mark.parametrize("provider", PROVIDERS)
def test_client_is_an_engine_returning_the_providers_alpha(
    provider: str, client_for: ClientFactory, photo: Photo
) -> None:
    rgb, data = photo
    with running_fake(provider) as fake:
        client = client_for(fake)
        assert isinstance(client, Engine)
        pred = client.predict(rgb, source=data)
        sent = fake.requests[-1]
    assert pred.alpha.shape == (72, 96) and pred.alpha.dtype == np.uint8
    np.testing.assert_array_equal(pred.alpha, ellipse_alpha(96, 72))
    assert pred.info["provider"] == provider == pred.info["answered_by"]
    assert sent.files["image_file"].data == data, "the original file is sent, not a re-encode"
    assert sent.header("x-api-key") == fake.key


def test_removebg_request_and_reported_headers(client_for: ClientFactory, photo: Photo) -> None:
    rgb, data = photo
    metrics = Metrics()
    with running_fake("removebg") as fake:
        pred = client_for(fake, metrics=metrics).predict(rgb, source=data)
        sent = fake.requests[-1]
    assert sent.path == "/v1.0/removebg"
    assert sent.fields == {"size": "auto", "format": "png", "channels": "alpha", "crop": "false"}
    assert pred.info["credits_charged"] == 1.0
    assert pred.info["ratelimit_limit"] == 500
    assert pred.info["ratelimit_remaining"] == 499
    assert pred.info["foreground_type"] == "product"
    assert pred.info["label"] == "remove.bg"
    labels = {"provider": "removebg"}
    assert metrics.value("bgbye_provider_calls_total", {**labels, "outcome": "ok"}) == 1
    assert metrics.value("bgbye_provider_credits_charged_total", labels) == 1
    assert metrics.value("bgbye_provider_ratelimit_remaining", labels) == 499


def test_removebg_preview_is_downscaled_then_resized_to_the_input(
    client_for: ClientFactory,
) -> None:
    rgb = make_image(1000, 750, seed=1)
    with running_fake("removebg") as fake:
        pred = client_for(fake, size="preview").predict(rgb, source=jpeg_bytes(rgb))
        assert fake.requests[-1].fields["size"] == "preview"
    assert pred.info["credits_charged"] == 0.25
    assert pred.info["result_width"] < 1000  # the provider answered small...
    assert pred.alpha.shape == (750, 1000)  # ...and we scaled it back
    assert np.abs(pred.alpha.astype(int) - ellipse_alpha(1000, 750)).mean() < 2.0


def test_clipdrop_asks_for_png_and_reports_credits(client_for: ClientFactory, photo: Photo) -> None:
    rgb, data = photo
    with running_fake("clipdrop", credits=10) as fake:
        pred = client_for(fake).predict(rgb, source=data)
        sent = fake.requests[-1]
    assert sent.path == "/remove-background/v1"
    assert sent.header("accept") == "image/png"
    assert sent.fields == {}
    assert pred.info["credits_charged"] == 1.0
    assert pred.info["credits_remaining"] == 9.0


def test_photoroom_request_and_sandbox_key(client_for: ClientFactory, photo: Photo) -> None:
    rgb, data = photo
    with running_fake("photoroom") as fake:
        pred = client_for(fake, key=f"sandbox_{fake.key}").predict(rgb, source=data)
        sent = fake.requests[-1]
    assert sent.path == "/v1/segment"
    assert sent.fields == {"format": "png", "channels": "alpha", "size": "full", "crop": "false"}
    assert pred.info["uncertainty_score"] == 0.12
    assert pred.info["sandbox"] is True
    assert "sandbox" in pred.info["label"]


def test_without_source_the_pixels_are_sent_as_png(client_for: ClientFactory,
                                                   photo: Photo) -> None:
    rgb, _ = photo
    with running_fake("removebg") as fake:
        pred = client_for(fake).predict(rgb)
        upload = fake.requests[-1].files["image_file"]
    assert upload.content_type == "image/png"
    np.testing.assert_array_equal(imageio.decode(upload.data), rgb)
    np.testing.assert_array_equal(pred.alpha, ellipse_alpha(96, 72))


def test_exif_rotated_or_unsupported_sources_are_re_encoded() -> None:
    rgb = make_image(40, 30)
    upright = jpeg_bytes(rgb)
    assert upload_for(rgb, upright).data == upright
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: the file is 30x40 on disk, rgb is upright
    rotated = jpeg_bytes(np.ascontiguousarray(np.rot90(rgb, 1)), exif=exif.tobytes())
    decoded = imageio.decode(rotated)
    up = upload_for(decoded, rotated)
    assert up.content_type == "image/png" and up.data != rotated
    assert Image.open(io.BytesIO(up.data)).size == (decoded.shape[1], decoded.shape[0])
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "GIF")
    assert upload_for(rgb, buf.getvalue()).content_type == "image/png"


@pytest.mark.parametrize("provider", ["removebg", "photoroom"])
def test_json_base64_answers_are_decoded(provider: str, client_for: ClientFactory,
                                         photo: Photo) -> None:
    rgb, data = photo
    with running_fake(provider) as fake:
        client = client_for(fake)
        build = client.build_request

        def ask_json(upload: Upload) -> ProviderRequest:
            req = build(upload)
            req.headers["Accept"] = "application/json"
            return req

        client.build_request = ask_json  # type: ignore[method-assign]
        pred = client.predict(rgb, source=data)
    np.testing.assert_array_equal(pred.alpha, ellipse_alpha(96, 72))


def test_missing_key_is_refused_by_the_client_itself() -> None:
    from bgbye.engines.providers.clipdrop import ClipdropClient

    with pytest.raises(ValueError, match="CLIPDROP_API_KEY"):
        ClipdropClient(api_key="", base_url="http://127.0.0.1:9")
