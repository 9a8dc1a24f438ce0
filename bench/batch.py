"""bgbye remove vs rembg's `p` loop, same u2netp weights, same folder of 1-megapixel JPEGs.

Alternating runs, medians: images/s, output bytes, peak RSS, and the ratios; plus the alpha
difference between the two tools' outputs.

    .venv/bin/python bench/batch.py [--images 24] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


def make_folder(dest: Path, count: int) -> None:
    """1-megapixel JPEGs made by upscaling real photos (several sources)."""
    dest.mkdir(parents=True, exist_ok=True)
    sources = [REAL / s / "images" for s in ("coco_mval", "ccp_person", "weizmann_horse")]
    files = [sorted(d.iterdir()) for d in sources if d.is_dir()]
    if not files:
        sys.exit("needs ../shared/data/real")
    picked = [f for group in zip(*files, strict=False) for f in group][:count]
    for i, path in enumerate(picked):
        img = Image.open(path).convert("RGB")
        scale = (1_000_000 / (img.width * img.height)) ** 0.5
        img = img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC
        )
        img.save(dest / f"img{i:03d}.jpg", quality=90)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd[:3]} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss // 1024


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.png"))


def alpha_diff(a: Path, b: Path) -> float:
    diffs = [
        np.abs(
            np.asarray(Image.open(p))[..., 3].astype(int)
            - np.asarray(Image.open(b / p.name))[..., 3].astype(int)
        ).mean()
        for p in sorted(a.glob("*.png"))
    ]
    return float(np.mean(diffs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    from bgbye.models.fetch import fetch
    from bgbye.models.registry import bundled_specs
    from bgbye.settings import get_settings

    model_dir = get_settings().model_dir
    fetch(bundled_specs()["u2netp"], model_dir)
    env = {**os.environ, "U2NET_HOME": str(model_dir), "OMP_NUM_THREADS": str(os.cpu_count())}
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bgbye-bench-") as tmp:
        src = Path(tmp) / "in"
        make_folder(src, args.images)
        tools = {
            "bgbye remove": lambda out: [
                py,
                "-m",
                "bgbye",
                "remove",
                str(src),
                "-o",
                str(out),
                "-q",
                "--workers",
                str(args.workers),
            ],
            "rembg p (u2netp)": lambda out: [
                py,
                str(ROOT / "bench" / "_rembg_p.py"),
                str(src),
                str(out),
            ],
        }
        times: dict[str, list[float]] = {k: [] for k in tools}
        rss: dict[str, list[int]] = {k: [] for k in tools}
        outs: dict[str, Path] = {}
        for r in range(args.runs):
            for name, cmd in tools.items() if r % 2 == 0 else reversed(tools.items()):
                out = Path(tmp) / f"out-{len(outs)}-{r}"
                t, m = run(cmd(out), env)
                times[name].append(t)
                rss[name].append(m)
                outs[name] = out
                shutil.rmtree(out) if r < args.runs - 1 else None
        n = args.images
        rows = []
        for name in tools:
            med = statistics.median(times[name])
            rows.append(
                (name, n / med, folder_bytes(outs[name]) / n / 1024, statistics.median(rss[name]))
            )
        ours, base = rows
        print(
            f"\n{n} JPEGs of ~1 MP, {args.runs} alternating runs, medians "
            f"({os.cpu_count()} cores, bgbye --workers {args.workers})\n"
        )
        print("| tool | images/s | output KB/image | peak RSS MB |")
        print("|---|---:|---:|---:|")
        for name, ips, kb, mb in rows:
            print(f"| {name} | {ips:.2f} | {kb:.0f} | {mb:.0f} |")
        print(
            f"| **ratio bgbye/rembg** | **{ours[1] / base[1]:.2f}x** | "
            f"**{ours[2] / base[2]:.2f}x** | **{ours[3] / base[3]:.2f}x** |"
        )
        print(
            f"\nmean |alpha difference| between the two tools: "
            f"{alpha_diff(outs['bgbye remove'], outs['rembg p (u2netp)']):.3f} levels of 255"
        )


if __name__ == "__main__":
    main()
