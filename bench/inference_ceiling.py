"""The ceiling for any u2netp folder tool on this machine: ONNX Runtime inference alone.

Compares thread layouts (one session with N threads, one shared session run by N workers with
one thread each, N sessions) on the same 320x320 input; the best of them bounds the images/s
that bgbye, rembg or anything else can reach with these weights. With OpenVINO installed, the
same for bgbye's OpenVINO session at fp32 and bf16: one stream of N threads (the LATENCY
layout) against N streams of one thread, one infer request per worker (the THROUGHPUT layout,
what bgbye's executors use).

    .venv/bin/python bench/inference_ceiling.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort


def session(path: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.enable_mem_pattern = False  # as bgbye's engine
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def rate(run: Callable[[int], object], count: int, workers: int) -> float:
    run(0)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(count)))
    return count / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    from bgbye.models.fetch import fetch
    from bgbye.models.registry import bundled_specs
    from bgbye.settings import get_settings

    path = str(fetch(bundled_specs()["u2netp"], get_settings().model_dir))
    cores = os.cpu_count() or 1
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    one = session(path, cores)
    name = one.get_inputs()[0].name
    shared = session(path, 1)
    many = [session(path, 1) for _ in range(cores)]
    layouts = {
        f"1 session x {cores} threads (rembg)": (lambda i: one.run(None, {name: x}), 1),
        f"1 shared session, {cores} workers x 1 thread (bgbye)": (
            lambda i: shared.run(None, {name: x}),
            cores,
        ),
        f"{cores} sessions x 1 thread": (lambda i: many[i % cores].run(None, {name: x}), cores),
    }
    from bgbye.engines.runtime import OpenVinoSession, openvino_installed

    if openvino_installed():
        for precision in ("fp32", "bf16"):
            latency = OpenVinoSession(Path(path), threads=cores, streams=1, precision=precision)
            streams = OpenVinoSession(Path(path), threads=1, streams=cores, precision=precision)
            layouts[f"OpenVINO {precision}: 1 stream x {cores} threads, 1 worker"] = (
                lambda i, s=latency: s.run(x, 0),
                1,
            )
            layouts[f"OpenVINO {precision}: 1 stream x {cores} threads, {cores} workers"] = (
                lambda i, s=latency: s.run(x, 0),
                cores,
            )
            layouts[
                f"OpenVINO {precision}: {cores} streams x 1 thread, {cores} workers (bgbye)"
            ] = (
                lambda i, s=streams: s.run(x, 0),
                cores,
            )
    load = os.getloadavg()[0]
    print(
        f"\nu2netp inference only, 320x320, {args.runs} runs, {cores} cores, "
        f"load average {load:.1f}\n"
    )
    print("| layout | inferences/s |")
    print("|---|---:|")
    for label, (run, workers) in layouts.items():
        print(f"| {label} | {rate(run, args.runs, workers):.2f} |")


if __name__ == "__main__":
    main()
