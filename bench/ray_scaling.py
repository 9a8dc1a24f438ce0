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
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bgbye.batch.local import run_local
from bgbye.batch.plan import plan_tasks
from bgbye.batch.ray_executor import remove_folder_ray
from bgbye.batch.summary import Summary
from bgbye.postprocess import RemoveOptions
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
    remover = Remover.from_model(model, settings, threads=max(1, (os.cpu_count() or 1) // workers))
    summary = run_local(plan_tasks([src], dst, "png"), remover, RemoveOptions(), workers=workers,
                        progress=False)
    return time.perf_counter() - start, summary


def run_ray_once(src: Path, dst: Path, model: str, settings: Settings, actors: int | None,
                 batch_size: int | None) -> tuple[float, float, Summary]:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level="ERROR")
    started = time.perf_counter()
    try:
        summary = remove_folder_ray(src, dst, model, RemoveOptions(), settings, actors=actors,
                                    batch_size=batch_size)
        job = time.perf_counter() - started
    finally:
        ray.shutdown()
    return job, started - start + job, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=120, help="first N images (0 = all)")
    parser.add_argument("--runs", type=int, default=3, help="A/B pairs")
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--actors", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"no folder {args.folder}", file=sys.stderr)
        return 2
    settings = Settings(threads=1)
    work = Path(tempfile.mkdtemp(prefix="bgbye-ray-bench-"))
    try:
        src = subset(args.folder, args.limit or None, work / "in")
        n = len(list(src.iterdir()))
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
