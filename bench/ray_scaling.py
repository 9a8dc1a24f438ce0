"""Ray executor vs local executor on one machine: images/s and Ray's overhead.

The same folder goes through both, alternating A/B runs (so machine noise hits both alike),
each run into a fresh output folder; the table shows medians. For Ray, each run starts a
local Ray, times the job, and shuts Ray down again, so two numbers come out of one run:

- ``ray job``: the batch on an already running Ray (what a job on a cluster pays), and
- ``ray + start``: the same plus starting a local Ray (what ``bgbye remove --ray`` pays on a
  laptop).

Both executors run the CLI defaults: local = one thread per core sharing one ORT session;
Ray = one single-threaded actor (own ORT session) per core.

    .venv/bin/python bench/ray_scaling.py --limit 120 --runs 3
    .venv/bin/python bench/ray_scaling.py --stages --limit 60 --runs 0   # stage costs only

``--stages`` times each stage of one actor (one core, one ORT thread) per image: the numbers
behind the scaling model in docs/ray.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bgbye.batch import LocalExecutor, RayExecutor, Summary, remove_folder
from bgbye.engines import threads_per_worker
from bgbye.options import RemoveOptions
from bgbye.remover import Remover
from bgbye.settings import Settings

DEFAULT_FOLDER = Path(__file__).resolve().parents[1].parent / "shared/data/real/coco_mval/images"


def subset(folder: Path, limit: int | None, into: Path) -> Path:
    """Symlinks to the first ``limit`` images, so a subset costs no copying."""
    into.mkdir(parents=True)
    names = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for path in names[:limit] if limit else names:
        (into / path.name).symlink_to(path.resolve())
    return into


def run_local_once(src: Path, dst: Path, model: str, settings: Settings) -> tuple[float, Summary]:
    start = time.perf_counter()
    workers = os.cpu_count() or 1
    remover = Remover.from_model(model, settings, threads=threads_per_worker(workers))
    summary = remove_folder(src, dst, settings=settings,
                            executor=LocalExecutor(workers, remover=remover))
    return time.perf_counter() - start, summary


def run_ray_once(src: Path, dst: Path, model: str, settings: Settings, actors: int | None,
                 batch_size: int | None) -> tuple[float, float, Summary]:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.ERROR)
    started = time.perf_counter()
    try:
        summary = remove_folder(src, dst, ref=model, settings=settings,
                                executor=RayExecutor(actors=actors, batch_size=batch_size))
        job = time.perf_counter() - started
    finally:
        ray.shutdown()
    return job, started - start + job, summary


def stage_profile(src: Path, model: str, settings: Settings) -> None:
    """Median milliseconds per image of each stage on one core, plus bytes in and out."""
    remover = Remover.from_model(model, settings, threads=1)
    options = RemoveOptions()
    stages: dict[str, list[float]] = {k: [] for k in ("read", "decode", "predict", "encode")}
    sizes_in: list[int] = []
    sizes_out: list[int] = []
    megapixels: list[float] = []
    for path in sorted(src.iterdir()):
        t0 = time.perf_counter()
        data = path.read_bytes()
        t1 = time.perf_counter()
        rgb = remover.decode(data)
        t2 = time.perf_counter()
        pred = remover.predict(rgb)
        t3 = time.perf_counter()
        out, _ = remover.finish(rgb, pred.alpha, options)
        t4 = time.perf_counter()
        for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[key].append(1000 * dt)
        sizes_in.append(len(data))
        sizes_out.append(len(out))
        megapixels.append(rgb.shape[0] * rgb.shape[1] / 1e6)
    total = sum(statistics.median(v) for v in stages.values())
    print(f"\nstages per image, one core, {len(sizes_in)} images, model {model}, median "
          f"{statistics.median(megapixels):.2f} MP, {statistics.median(sizes_in) / 1e3:.0f} kB "
          f"in, {statistics.median(sizes_out) / 1e3:.0f} kB out (PNG)\n")
    print("| stage | ms/image | share |")
    print("|---|---:|---:|")
    for key, values in stages.items():
        med = statistics.median(values)
        label = "read (page cache)" if key == "read" else key
        print(f"| {label} | {med:.1f} | {100 * med / total:.0f}% |")
    print(f"| total | {total:.1f} | = {1000 / total:.1f} images/s per core |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=120, help="first N images (0 = all)")
    parser.add_argument("--runs", type=int, default=3, help="A/B pairs")
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--actors", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--stages", action="store_true", help="also profile stages (one core)")
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"no folder {args.folder}", file=sys.stderr)
        return 2
    settings = Settings(threads=1)
    work = Path(tempfile.mkdtemp(prefix="bgbye-ray-bench-"))
    try:
        src = subset(args.folder, args.limit or None, work / "in")
        n = len(list(src.iterdir()))
        if args.stages:
            stage_profile(src, args.model, settings)
        local_s: list[float] = []
        job_s: list[float] = []
        cold_s: list[float] = []
        for i in range(args.runs):
            t, s = run_local_once(src, work / f"local{i}", args.model, settings)
            assert s.done == n, s.line()
            local_s.append(t)
            job, cold, s = run_ray_once(src, work / f"ray{i}", args.model, settings, args.actors,
                                        args.batch_size)
            assert s.done == n, s.line()
            job_s.append(job)
            cold_s.append(cold)
            print(f"run {i + 1}: local {t:.1f}s  ray job {job:.1f}s  ray + start {cold:.1f}s",
                  file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not local_s:
        return 0
    base = statistics.median(local_s)
    print(f"\n{n} images from {args.folder.name}, model {args.model}, {os.cpu_count()} cores, "
          f"median of {args.runs} alternating runs\n")
    print("| executor | seconds | images/s | overhead vs local |")
    print("|---|---:|---:|---:|")
    for name, times in (("local (threads)", local_s), ("ray job (running Ray)", job_s),
                        ("ray + local Ray start", cold_s)):
        med = statistics.median(times)
        print(f"| {name} | {med:.1f} | {n / med:.2f} | {100 * (med / base - 1):+.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
