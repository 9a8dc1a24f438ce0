from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgbye.errors import ImageTooLargeError, InvalidImageError, InvalidOptionError
from bgbye.postprocess import RemoveOptions
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests import hostile
from tests.conftest import image_bytes


@pytest.fixture
def remover(settings: Settings) -> Remover:
    return Remover.from_model(None, settings)


def test_png_cutout_has_alpha_and_input_size(remover: Remover) -> None:
    res = remover.remove_bytes(image_bytes("JPEG", 80, 60))
    img = Image.open(io.BytesIO(res.data))
    assert (res.media_type, img.mode, img.size) == ("image/png", "RGBA", (80, 60))
    assert (res.width, res.height, res.engine) == (80, 60, "tiny (ONNX)")
    a = np.asarray(img)
    assert a[30, 40, 3] > 150 and a[0, 0, 3] < 30


@pytest.mark.parametrize(("fmt", "mode"), [("webp", "RGBA"), ("jpg", "RGB")])
def test_other_formats(remover: Remover, fmt: str, mode: str) -> None:
    res = remover.remove_bytes(image_bytes(), RemoveOptions(format=fmt))
    img = Image.open(io.BytesIO(res.data))
    assert img.mode == mode
    if fmt == "jpg":  # no alpha in JPEG: composited on white
        assert np.asarray(img)[0, 0].min() > 200


def test_mask_only_and_crop(remover: Remover) -> None:
    res = remover.remove_bytes(image_bytes(), RemoveOptions(mask_only=True, crop=True, margin=1))
    img = Image.open(io.BytesIO(res.data))
    assert img.mode == "L" and img.size[0] < 64 and img.size[1] < 48


def test_errors_surface_typed(remover: Remover, settings: Settings) -> None:
    with pytest.raises(InvalidImageError):
        remover.remove_bytes(hostile.truncated_jpeg())
    with pytest.raises(InvalidOptionError):
        remover.remove_bytes(image_bytes(), RemoveOptions(format="bmp"))
    small = Remover(remover.engine, settings.model_copy(update={"max_pixels": 100}))
    with pytest.raises(ImageTooLargeError):
        small.remove_bytes(image_bytes())


def test_remove_array_is_the_engine_alpha(remover: Remover) -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    assert remover.remove_array(rgb).shape == (10, 10)


def test_the_library_reads_no_environment_and_touches_no_global_metrics(
    remover: Remover, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain Remover (and the provider engines it may hold) records into no global registry
    and takes its defaults from the code, whatever BGBYE_* says."""
    from prometheus_client import REGISTRY

    from bgbye.engines import EngineCache

    monkeypatch.setenv("BGBYE_MAX_PIXELS", "10")
    monkeypatch.setenv("REMOVE_BG_API_KEY", "")
    plain = Remover(remover.engine)
    assert plain.settings.max_pixels == Settings.defaults().max_pixels == 40_000_000
    plain.remove_bytes(image_bytes("PNG", 20, 20))
    mocked = Remover(EngineCache(remover.settings).get("removebg"), remover.settings)
    assert mocked.remove_bytes(image_bytes("PNG", 20, 20)).info["mocked"] is True
    assert not [m.name for m in REGISTRY.collect() if m.name.startswith("bgbye")]


def test_background_image_is_decoded_under_the_limits(remover: Remover) -> None:
    bg = image_bytes("PNG", 40, 40)
    small = Remover(remover.engine, remover.settings.model_copy(update={"max_pixels": 1000}))
    with pytest.raises(ImageTooLargeError):
        small.remove_bytes(image_bytes("PNG", 20, 20), RemoveOptions(bg_image=bg))
    out = remover.remove_bytes(image_bytes("PNG", 20, 20), RemoveOptions(bg_image=bg))
    assert Image.open(io.BytesIO(out.data)).mode == "RGB"
