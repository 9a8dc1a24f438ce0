from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgbye import imageio
from bgbye.errors import EmptyInputError, ImageTooLargeError, InvalidImageError, InvalidOptionError
from tests import hostile
from tests.conftest import image_bytes


@pytest.mark.parametrize(
    "data",
    [
        hostile.png16(),
        hostile.cmyk_jpeg(),
        hostile.palette_png_with_transparency(),
        hostile.animated_gif(),
        hostile.rgba_png(),
        hostile.la_png(),
        hostile.webp(),
        hostile.bmp(),
        hostile.tiff(),
        image_bytes("JPEG"),
        image_bytes("PNG"),
    ],
    ids=[
        "png16",
        "cmyk",
        "palette-transparent",
        "gif",
        "rgba",
        "la",
        "webp",
        "bmp",
        "tiff",
        "jpeg",
        "png",
    ],
)
def test_every_supported_mode_decodes_to_rgb(data: bytes) -> None:
    rgb = imageio.decode(data)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (48, 64, 3)


def test_16bit_png_keeps_its_gradient() -> None:
    rgb = imageio.decode(hostile.png16())
    assert rgb[0, 0, 0] < 5 and rgb[-1, -1, 0] > 250


def test_exif_orientation_is_applied() -> None:
    data, (w, h) = hostile.exif_rotated_jpeg()
    assert imageio.decode(data).shape[:2] == (h, w)


def test_transparent_pixels_become_black() -> None:
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., :3] = 255
    arr[0, 0, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(arr, "RGBA").save(buf, "PNG")
    rgb = imageio.decode(buf.getvalue())
    assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[1, 1].tolist() == [0, 0, 0]


def test_one_pixel_image() -> None:
    assert imageio.decode(hostile.one_pixel_png()).shape == (1, 1, 3)


def test_empty_bytes() -> None:
    with pytest.raises(EmptyInputError):
        imageio.decode(b"")


@pytest.mark.parametrize("data", [hostile.TEXT_AS_JPG, hostile.SVG, b"\x00" * 100])
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(InvalidImageError, match="Not a supported image"):
        imageio.decode(data)


def test_truncated_jpeg_is_a_clear_error() -> None:
    with pytest.raises(InvalidImageError, match="corrupt or truncated"):
        imageio.decode(hostile.truncated_jpeg())


def test_bomb_refused_from_header_alone() -> None:
    data = hostile.png_bomb_header()
    assert len(data) < 200
    with pytest.raises(ImageTooLargeError, match="40000x40000"):
        imageio.decode(data, max_pixels=40_000_000)


def test_byte_limit_checked_first() -> None:
    with pytest.raises(ImageTooLargeError, match="limit is 10 bytes"):
        imageio.probe(image_bytes(), max_bytes=10)


def test_probe_reads_header_only() -> None:
    info = imageio.probe(hostile.png_bomb_header(1000, 500))
    assert (info.format, info.width, info.height, info.pixels) == ("PNG", 1000, 500, 500_000)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_encode_roundtrip_keeps_alpha(fmt: str) -> None:
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[2:8, 3:9] = (10, 200, 30, 255)
    out = Image.open(io.BytesIO(imageio.encode(rgba, fmt)))
    assert out.mode == "RGBA" and out.size == (12, 10)
    back = np.asarray(out)
    if fmt == "png":
        assert np.array_equal(back, rgba)
    else:
        assert np.array_equal(back[..., 3], rgba[..., 3])


def test_encode_jpeg_and_mask() -> None:
    rgb = np.full((8, 8, 3), 100, np.uint8)
    assert Image.open(io.BytesIO(imageio.encode(rgb, "jpeg"))).format == "JPEG"
    mask = np.full((8, 8), 7, np.uint8)
    out = Image.open(io.BytesIO(imageio.encode(mask, "png")))
    assert out.mode == "L" and np.asarray(out).max() == 7


def test_encode_rejects_alpha_jpeg_and_unknown_format() -> None:
    with pytest.raises(InvalidOptionError, match="no alpha"):
        imageio.encode(np.zeros((2, 2, 4), np.uint8), "jpg")
    with pytest.raises(InvalidOptionError, match="Unknown output format"):
        imageio.normalize_format("gif")


@pytest.mark.parametrize("channels", [3, 4])
def test_png_encoder_is_lossless_and_straight(channels: int) -> None:
    """Whichever PNG encoder is installed (fpng or OpenCV), pixels come back identical and
    colours stay straight (never premultiplied by alpha)."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(37, 53, channels), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(imageio.encode(img, "png"))))
    assert back.shape == img.shape and np.array_equal(back, img)
