"""bgbye remove vs rembg's `p` loop, same u2netp weights, same folder of 1-megapixel JPEGs.

Alternating runs, medians: images/s, output bytes, peak RSS, and the ratios; plus the alpha
difference between each bgbye configuration's outputs and rembg's. Whole processes are timed;
the steady-state rate (the issue's measure: start-up and model load excluded) is the marginal
one, (images - warmup) / (time for the folder - time for its first ``--warmup`` images), each
process timed in the same alternation. ``--runtime`` and
``--precision`` take several values: every combination is a tool of the same run (bf16 needs
OpenVINO, so onnxruntime/bf16 is skipped); int8 needs the u2netp-int8 variant
(bench/precision.py makes it).

    .venv/bin/python bench/batch.py [--images 24] [--runs 3] [--workers 2]
        [--runtime onnxruntime auto] [--precision fp32 bf16] [--warmup 4]
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
from collections.abc import Callable
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


REMBG = "rembg p (u2netp)"


def _bgbye_cmd(workers: int, precision: str) -> Callable[[Path, Path], list[str]]:
    def cmd(src: Path, out: Path) -> list[str]:
        py = sys.executable
        flags = ["-q", "--workers", str(workers), "--precision", precision]
        return [py, "-m", "bgbye", "remove", str(src), "-o", str(out), *flags]

    return cmd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--warmup", type=int, default=4, help="images of the start-up run")
    ap.add_argument(
        "--runtime", nargs="+", default=["auto"], choices=["auto", "onnxruntime", "openvino"]
    )
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "int8"])
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
        warm = Path(tmp) / "warm"  # the first --warmup images: start-up + model load + a few
        warm.mkdir()
        for path in sorted(src.iterdir())[: args.warmup]:
            shutil.copy(path, warm / path.name)
        tools: dict[str, tuple[Callable[[Path, Path], list[str]], dict[str, str]]] = {
            REMBG: (
                lambda folder, out: [
                    py,
                    str(ROOT / "bench" / "_rembg_p.py"),
                    str(folder),
                    str(out),
                ],
                env,
            )
        }
        for runtime in args.runtime:
            for precision in args.precision:
                if runtime == "onnxruntime" and precision == "bf16":
                    continue  # would fall back to fp32: not a configuration of its own
                tools[f"bgbye remove ({runtime}, {precision})"] = (
                    _bgbye_cmd(args.workers, precision),
                    {**env, "BGBYE_RUNTIME": runtime},
                )
        times: dict[str, list[float]] = {k: [] for k in tools}
        warm_times: dict[str, list[float]] = {k: [] for k in tools}
        rss: dict[str, list[int]] = {k: [] for k in tools}
        outs: dict[str, Path] = {}
        load_start = os.getloadavg()[0]
        index = {name: i for i, name in enumerate(tools)}
        for r in range(args.runs):
            for name, (cmd, tool_env) in tools.items() if r % 2 == 0 else reversed(tools.items()):
                # One folder per tool and run: a shared one would let bgbye skip finished outputs.
                out = Path(tmp) / f"out-{index[name]}-{r}"
                warm_times[name].append(run(cmd(warm, out.with_name(out.name + "w")), tool_env)[0])
                shutil.rmtree(out.with_name(out.name + "w"))
                t, m = run(cmd(src, out), tool_env)
                times[name].append(t)
                rss[name].append(m)
                outs[name] = out
                shutil.rmtree(out) if r < args.runs - 1 else None
        n = args.images
        load = (load_start, os.getloadavg()[0])
        print(
            f"\n{n} JPEGs of ~1 MP, {args.runs} alternating runs, medians "
            f"({os.cpu_count()} cores, bgbye --workers {args.workers}, load average "
            f"{load[0]:.1f} at the start, {load[1]:.1f} at the end)\n"
        )
        print(
            "| tool | steady images/s | vs rembg | whole-process images/s | vs rembg "
            "| output KB/image | peak RSS MB | mean abs Δα vs rembg (levels of 255) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")

        def steady(name: str) -> float:
            marginal = statistics.median(times[name]) - statistics.median(warm_times[name])
            return (n - args.warmup) / marginal

        base_ips = n / statistics.median(times[REMBG])
        base_steady = steady(REMBG)
        for name in tools:
            ips = n / statistics.median(times[name])
            diff = "-" if name == REMBG else f"{alpha_diff(outs[name], outs[REMBG]):.3f}"
            print(
                f"| {name} | {steady(name):.2f} | {steady(name) / base_steady:.2f}x "
                f"| {ips:.2f} | {ips / base_ips:.2f}x | "
                f"{folder_bytes(outs[name]) / n / 1024:.0f} | "
                f"{statistics.median(rss[name]):.0f} | {diff} |"
            )


if __name__ == "__main__":
    main()
