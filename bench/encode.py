"""PNG encoder settings for cut-outs: time and bytes per 1-megapixel image, against Pillow's
default (what rembg writes). This is how imageio.PNG_* and postprocess.INVISIBLE_ALPHA were chosen.

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


def cv2_png(level: int, strategy: int, invisible: int) -> object:
    def enc(rgba: np.ndarray) -> bytes:
        if invisible:
            rgba = rgba.copy()
            rgba[rgba[..., 3] <= invisible, :3] = 0
        bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
        return cv2.imencode(
            ".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_STRATEGY, strategy]
        )[1].tobytes()

    return enc


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
        "cv2 RLE level 1 + invisible colour dropped (bgbye)": cv2_png(1, rle, 1),
    }
    rows = []
    for name, enc in encoders.items():
        ms, size = [], []
        for rgba in images:
            best = min(_timed(enc, rgba) for _ in range(args.repeat))
            ms.append(best[0])
            size.append(best[1])
        rows.append((name, statistics.median(ms), sum(size) / len(size) / 1024))
    base_ms, base_kb = rows[0][1], rows[0][2]
    print(f"\n{len(images)} cut-outs of ~1 MP, best of {args.repeat}, median over images\n")
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
