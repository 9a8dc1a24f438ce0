"""Safe image decoding and fast encoding.

Decoding checks byte and pixel limits from the header *before* pixels are decoded, so a
decompression bomb is refused cheaply. Every accepted image comes out as RGB uint8 with EXIF
orientation applied, whatever its mode (P with transparency, LA, CMYK, I;16, RGBA...).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bgbye.errors import EmptyInputError, ImageTooLargeError, InvalidImageError, InvalidOptionError

# Formats we decode; anything else (SVG, HTML, PDF...) is refused as unsupported.
DECODABLE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"})
OUTPUT_FORMATS = ("png", "webp", "jpg")
MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg"}

# Measured on 1-MP cut-outs (bench/encode.py): zlib's RLE strategy at level 1 encodes ~3x
# faster than Pillow's default (level 6) at about the same size (cv2 level 6 costs 2.5x more
# time for 1% fewer bytes).
PNG_COMPRESSION = 1
PNG_STRATEGY = cv2.IMWRITE_PNG_STRATEGY_RLE
# fpng (the optional `bgbye[fpng]` extra) writes the same pixels ~2.5x faster than that, for
# ~1.2x the bytes (bench/encode.py); it takes RGB/RGBA only, so masks stay on OpenCV.
try:
    import fpng as _fpng
except ImportError:  # pragma: no cover - depends on the install
    _fpng = None
PNG_ENCODER = "fpng" if _fpng is not None else "opencv"
WEBP_QUALITY = 90
JPEG_QUALITY = 92

# Pillow's own bomb guard is a warning below 2x its limit; our limits are explicit instead.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _open(data: bytes) -> Image.Image:
    if not data:
        raise EmptyInputError("The file is empty (0 bytes).")
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            "Not a supported image: expected JPEG, PNG, WebP, BMP, TIFF or GIF."
        ) from exc
    except Exception as exc:  # Pillow raises many types on hostile headers
        raise InvalidImageError(f"Could not read the image header: {exc}") from exc
    if img.format not in DECODABLE_FORMATS:
        raise InvalidImageError(f"Unsupported image format {img.format!r}.")
    return img


def probe(data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None) -> ImageInfo:
    """Read the header only and enforce limits; cheap even for a 40000x40000 bomb."""
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes."
        )
    img = _open(data)
    width, height = img.size
    if width <= 0 or height <= 0:
        raise InvalidImageError("The image has no pixels.")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} ({width * height:,} pixels); "
            f"the limit is {max_pixels:,} pixels."
        )
    return ImageInfo(format=str(img.format), width=width, height=height)


def decode(
    data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """Decode bytes into an RGB uint8 array (H, W, 3), EXIF orientation applied."""
    info = probe(data, max_bytes=max_bytes, max_pixels=max_pixels)
    img = _open(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if info.format == "GIF":
                img.seek(0)  # first frame only; never iterate thousands of frames
            img.load()
            img = ImageOps.exif_transpose(img) or img
            rgb = to_rgb(img)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageError(f"The image is corrupt or truncated: {exc}") from exc
    except MemoryError as exc:
        raise ImageTooLargeError("The image is too large to decode in memory.") from exc
    w, h = rgb.shape[1], rgb.shape[0]
    if max_pixels is not None and w * h > max_pixels:
        raise ImageTooLargeError(f"The image is {w}x{h}; the limit is {max_pixels:,} pixels.")
    return rgb


def to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode to RGB uint8; transparent areas become black, as a model expects."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32 if mode == "I" else np.uint16)
        arr = (arr.astype(np.float32) * (255.0 / max(float(arr.max()), 1.0))).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if mode == "F":
        farr = np.asarray(img, dtype=np.float32)
        lo, hi = float(farr.min()), float(farr.max())
        arr = ((farr - lo) * (255.0 / max(hi - lo, 1e-6))).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        arr = np.asarray(img)
        alpha = arr[:, :, 3:4].astype(np.uint16)
        return (arr[:, :, :3].astype(np.uint16) * alpha // 255).astype(np.uint8)
    if img.mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, L, 1, P...
    return np.asarray(img, dtype=np.uint8)


def read_rgb(path: str) -> np.ndarray:
    with open(path, "rb") as fh:
        return decode(fh.read())


def normalize_format(fmt: str | None) -> str:
    fmt = (fmt or "png").lower().lstrip(".")
    fmt = {"jpeg": "jpg"}.get(fmt, fmt)
    if fmt not in OUTPUT_FORMATS:
        raise InvalidOptionError(f"Unknown output format {fmt!r}; choose png, webp or jpg.")
    return fmt


def encode(image: np.ndarray, fmt: str = "png") -> bytes:
    """Encode RGB/RGBA/L uint8 arrays. cv2 is used for speed (it releases the GIL)."""
    fmt = normalize_format(fmt)
    if image.dtype != np.uint8:
        raise ValueError("encode expects uint8 pixels")
    if fmt == "jpg" and image.ndim == 3 and image.shape[2] == 4:
        raise InvalidOptionError("JPEG has no alpha channel: pick a background colour or PNG/WebP.")
    if fmt == "png" and _fpng is not None and image.ndim == 3 and image.shape[2] in (3, 4):
        return bytes(_fpng.from_ndarray(np.ascontiguousarray(image)))
    if image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    else:
        bgr = image
    if fmt == "png":
        params = [
            cv2.IMWRITE_PNG_COMPRESSION,
            PNG_COMPRESSION,
            cv2.IMWRITE_PNG_STRATEGY,
            PNG_STRATEGY,
        ]
        ext = ".png"
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, WEBP_QUALITY]
        ext = ".webp"
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        ext = ".jpg"
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:  # pragma: no cover - cv2 only fails on impossible inputs
        raise ValueError(f"could not encode {fmt}")
    return buf.tobytes()
