"""Mutation fuzzing of ``bgbye.imageio.decode``, run as its own process (see
test_fuzz_decode.py) so memory can be capped with RLIMIT_AS and a hang ends the process.

Seeds: real photographs (../shared/data/real, when present) and generated files in every
decodable format, including the hostile ones. Mutations: bit flips (biased to the header),
truncation, header splices between files, byte runs inserted or deleted, and dimension fields
overwritten. Property: ``decode`` returns an (H, W, 3) uint8 array within the pixel limit or
raises a ``BgbyeError``; nothing else escapes, no example runs past the watchdog.

    python -m tests.reliability.fuzz_decode --examples 200 --seed 1 [--real DIR]
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import io
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from bgbye import imageio
from bgbye.errors import BgbyeError
from tests import hostile
from tests.conftest import make_image

MAX_PIXELS = 4_000_000
MAX_BYTES = 8 * 1024 * 1024
EXAMPLE_TIMEOUT_S = 20.0



def _peak_rss_kb() -> int:
    """This process's own peak RSS. Not ru_maxrss: Linux carries it across fork+exec, so a
    fuzzer started by a pytest that already loaded torch would report pytest's 2 GB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def generated_seeds() -> list[bytes]:
    img = Image.fromarray(make_image(96, 72))
    out = []
    variants: list[tuple[str, dict[str, Any]]] = [
        ("PNG", {}), ("JPEG", {"quality": 85}), ("JPEG", {"progressive": True}), ("WEBP", {}),
        ("WEBP", {"lossless": True}), ("GIF", {}), ("BMP", {}), ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"})]
    for fmt, kw in variants:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    out += [hostile.png16(), hostile.cmyk_jpeg(), hostile.palette_png_with_transparency(),
            hostile.exif_rotated_jpeg()[0], hostile.animated_gif(4), hostile.la_png(),
            hostile.rgba_png(), hostile.png_bomb_header(), hostile.gif_bomb_header(),
            hostile.webp_bomb_header(), hostile.tiff_bomb_header(), hostile.huge_exif_jpeg(2000)]
    return out


def real_seeds(folder: Path | None, per_source: int = 3) -> list[bytes]:
    """A few real files per source, re-saved small (fuzzing speed) plus one original each."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for source in sorted(p for p in folder.iterdir() if (p / "images").is_dir()):
        files = sorted((source / "images").iterdir())[:per_source]
        for i, path in enumerate(files):
            data = path.read_bytes()
            if i == 0 and len(data) < 400_000:
                out.append(data)  # the untouched original: its real header and markers
            img = Image.open(io.BytesIO(data))
            img.thumbnail((160, 160))
            buf = io.BytesIO()
            img.save(buf, format=img.format or "PNG")
            out.append(buf.getvalue())
    return out


def mutate(data: bytes, op: str, pos: float, value: int, other: bytes) -> bytes:
    n = len(data)
    at = int(pos * n)
    head = min(n, 64)
    if op == "flip_header":
        i = int(pos * head)
        return data[:i] + bytes([data[i] ^ (1 << (value % 8))]) + data[i + 1:] if n else data
    if op == "flip":
        if at >= n:
            return data
        return data[:at] + bytes([data[at] ^ (1 << (value % 8))]) + data[at + 1:]
    if op == "truncate":
        return data[:at]
    if op == "splice":  # this file's header, another file's body
        cut = int(pos * min(len(other), 256))
        return data[:head] + other[cut:]
    if op == "insert":
        return data[:at] + bytes([value % 256]) * (1 + value % 300) + data[at:]
    if op == "delete":
        return data[:at] + data[at + 1 + value % 300:]
    if op == "big_numbers":  # overwrite 4 bytes (dimensions, lengths, offsets) with a huge value
        i = int(pos * max(1, head - 4))
        return data[:i] + (0xFFFF0000 | value).to_bytes(4, "big")[:4] + data[i + 4:]
    raise ValueError(op)


OPS = ["flip_header", "flip", "truncate", "splice", "insert", "delete", "big_numbers"]


def run(examples: int, rng_seed: int, real: Path | None) -> dict[str, object]:
    seeds = generated_seeds() + real_seeds(real)
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = 0.0
    escaped: list[str] = []
    rss_after_warmup: list[int] = []

    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(seeds) - 1), st.lists(st.tuples(
        st.sampled_from(OPS), st.floats(0, 1, exclude_max=True), st.integers(0, 1 << 16),
        st.integers(0, len(seeds) - 1)), min_size=1, max_size=4))
    def one(index: int, steps: list[tuple[str, float, int, int]]) -> None:
        nonlocal slowest
        data = seeds[index]
        for op, pos, value, other in steps:
            data = mutate(data, op, pos, value, seeds[other])
        faulthandler.dump_traceback_later(EXAMPLE_TIMEOUT_S, exit=True)
        start = time.perf_counter()
        try:
            rgb = imageio.decode(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        except BgbyeError as exc:
            outcomes[exc.code] += 1
        except Exception as exc:  # the property: nothing but BgbyeError escapes
            escaped.append(f"{type(exc).__name__}: {exc} (ops {[s[0] for s in steps]})")
        else:
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
            assert rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS
            outcomes["decoded"] += 1
        finally:
            faulthandler.cancel_dump_traceback_later()
        slowest = max(slowest, time.perf_counter() - start)
        if sum(outcomes.values()) + len(escaped) == max(1, examples // 5):
            rss_after_warmup.append(_peak_rss_kb())

    one()
    peak = _peak_rss_kb()
    return {
        "examples": sum(outcomes.values()) + len(escaped),
        "seeds": len(seeds),
        "outcomes": dict(outcomes),
        "escaped": escaped[:20],
        "escaped_count": len(escaped),
        "slowest_s": round(slowest, 3),
        "max_rss_kb_after_warmup": rss_after_warmup[0] if rss_after_warmup else None,
        "max_rss_kb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=Path, default=None)
    parser.add_argument("--max-memory-mb", type=int, default=3072)
    args = parser.parse_args()
    limit = args.max_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    json.dump(run(args.examples, args.seed, args.real), sys.stdout)


if __name__ == "__main__":
    main()
