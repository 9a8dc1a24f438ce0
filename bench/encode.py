"""PNG encoders for cut-outs: time and bytes per 1-megapixel image, against Pillow's default
(what rembg writes). This is how imageio's encoder, PNG_* and postprocess.INVISIBLE_ALPHA were
chosen. Every encoder is checked to decode to exactly the same straight-alpha RGBA pixels (PNG
is lossless, so "equal output" is bit-identical pixels); the libraries a Python user can
install are compared: OpenCV, Pillow, imagecodecs (libpng and libspng), fpng.

    .venv/bin/python bench/encode.py [--images 9]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def cutouts(count: int) -> list[np.ndarray]:
    from bgbye.remover import Remover

    remover = Remover.from_model("u2netp")
    files = [
        f
        for s in ("coco_mval", "ccp_person", "weizmann_horse")
        for f in sorted((REAL / s / "images").iterdir())[: count // 3 + 1]
    ][:count]
    out = []
    for f in files:
        img = Image.open(f).convert("RGB")
        scale = (1e6 / (img.width * img.height)) ** 0.5
        rgb = np.asarray(img.resize((round(img.width * scale), round(img.height * scale))))
        out.append(np.dstack([rgb, remover.predict(rgb).alpha]))  # straight colours
    return out


def rembg_png(rgba: np.ndarray) -> bytes:
    """What rembg writes: Image.composite onto transparent black (premultiplied colours in a
    straight-alpha PNG, hence its dark fringes), then Pillow's default PNG encoder."""
    img = Image.fromarray(np.ascontiguousarray(rgba[..., :3])).convert("RGBA")
    cut = Image.composite(img, Image.new("RGBA", img.size, 0), Image.fromarray(rgba[..., 3]))
    buf = io.BytesIO()
    cut.save(buf, "PNG")
    return buf.getvalue()


def cv2_png(level: int, strategy: int, invisible: int, png_filter: int | None = None) -> object:
    extra = [] if png_filter is None else [cv2.IMWRITE_PNG_FILTER, png_filter]

    def enc(rgba: np.ndarray) -> bytes:
        if invisible:
            rgba = rgba.copy()
            rgba[rgba[..., 3] <= invisible, :3] = 0
        bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
        return cv2.imencode(
            ".png",
            bgra,
            [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_STRATEGY, strategy, *extra],
        )[1].tobytes()

    return enc


def pil_png(level: int) -> object:
    def enc(rgba: np.ndarray) -> bytes:
        rgba = _invisible_dropped(rgba)
        buf = io.BytesIO()
        Image.fromarray(rgba).save(buf, "PNG", compress_level=level)
        return buf.getvalue()

    return enc


def imagecodecs_png(rgba: np.ndarray) -> bytes:
    import imagecodecs

    # The settings imagecodecs documents as OpenCV's fast ones: level 1, RLE, SUB filter.
    return bytes(imagecodecs.png_encode(_invisible_dropped(rgba), level=1, strategy=3, filter=16))


def imagecodecs_spng(rgba: np.ndarray) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.spng_encode(_invisible_dropped(rgba), level=1))


def fpng_png(rgba: np.ndarray) -> bytes:
    import fpng

    return fpng.from_ndarray(_invisible_dropped(rgba))


def bgbye_encode(rgba: np.ndarray) -> bytes:
    from bgbye import imageio

    return imageio.encode(_invisible_dropped(rgba), "png")


def _invisible_dropped(rgba: np.ndarray) -> np.ndarray:
    out = rgba.copy()
    out[out[..., 3] <= 1, :3] = 0
    return out


def _optional(name: str, enc: object) -> dict[str, object]:
    import importlib.util

    module = name.split(":")[0]
    return {name.split(":")[1]: enc} if importlib.util.find_spec(module) else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    images = cutouts(args.images)
    rle, default = cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_STRATEGY_DEFAULT
    encoders = {
        "rembg: premultiplied + Pillow default": rembg_png,
        "cv2 level 1": cv2_png(1, default, 0),
        "cv2 level 6": cv2_png(6, default, 0),
        "cv2 RLE level 1": cv2_png(1, rle, 0),
        "cv2 RLE level 1 + invisible colour dropped (bgbye before)": cv2_png(1, rle, 1),
        "cv2 RLE level 1 + dropped, SUB filter": cv2_png(1, rle, 1, cv2.IMWRITE_PNG_FILTER_SUB),
        "cv2 RLE level 1 + dropped, UP filter": cv2_png(1, rle, 1, cv2.IMWRITE_PNG_FILTER_UP),
        "cv2 RLE level 1 + dropped, PAETH filter": cv2_png(1, rle, 1, cv2.IMWRITE_PNG_FILTER_PAETH),
        "Pillow level 1": pil_png(1),
        **_optional("imagecodecs:imagecodecs png level 1 RLE SUB", imagecodecs_png),
        **_optional("imagecodecs:imagecodecs spng level 1", imagecodecs_spng),
        **_optional("fpng:fpng", fpng_png),
        "bgbye imageio.encode (now)": bgbye_encode,
    }
    reference = [_invisible_dropped(rgba) for rgba in images]
    rows = []
    for name, enc in encoders.items():
        ms, size = [], []
        for rgba, ref in zip(images, reference, strict=True):
            if name != next(iter(encoders)):  # rembg premultiplies: not the same output
                data = enc(rgba)  # type: ignore[operator]
                decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
                same = np.array_equal(decoded, ref) or np.array_equal(decoded, rgba)
                assert same, f"{name}: decodes to other pixels"
            best = min(_timed(enc, rgba) for _ in range(args.repeat))
            ms.append(best[0])
            size.append(best[1])
        rows.append((name, statistics.median(ms), sum(size) / len(size) / 1024))
    base_ms, base_kb = rows[0][1], rows[0][2]
    import os

    load = os.getloadavg()
    print(
        f"\n{len(images)} cut-outs of ~1 MP, best of {args.repeat}, median over images, "
        f"load average {load[0]:.1f}; every encoder but rembg's decodes to identical pixels\n"
    )
    print("| encoder | ms/image | KB/image | time vs rembg | bytes vs rembg |")
    print("|---|---:|---:|---:|---:|")
    for name, ms_, kb in rows:
        print(f"| {name} | {ms_:.0f} | {kb:.0f} | {ms_ / base_ms:.2f}x | {kb / base_kb:.2f}x |")


def _timed(enc: object, rgba: np.ndarray) -> tuple[float, int]:
    start = time.perf_counter()
    data = enc(rgba)  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000, len(data)


if __name__ == "__main__":
    main()
