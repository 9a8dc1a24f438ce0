"""glibc heap thresholds vs the default, on the u2netp fine-tuning step (fit's CPU setting).

``bgbye_pipelines.ml.fit.keep_freed_memory`` raises glibc's mmap/trim thresholds before CPU
training, so the activation-sized buffers freed every step are reused instead of unmapped and
page-faulted back in. Each run is a fresh process (the setting is process-wide) that times
``--steps`` training steps of u2netp (320 px, batch 4, ``--threads``) after one warm-up step;
runs alternate between the two settings, and the table shows medians and the ratio.

    .venv/bin/python bench/train_malloc.py [--steps 4] [--repeats 3] [--threads 1]

Needs the fetched u2netp (``bgbye models fetch u2netp``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import torch
from bgbye_pipelines.ml.fit import keep_freed_memory
from bgbye_pipelines.ml.losses import build_loss
from bgbye_pipelines.ml.model import build_model
tuned, steps, threads = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3])
if tuned:
    assert keep_freed_memory()
torch.set_num_threads(threads)
torch.manual_seed(0)
net = build_model({"encoder": "u2netp"}).module.train()
loss_fn = build_loss({"bce": 1.0, "deep_supervision": True, "served_mae": 1.0}, "minmax")
opt = torch.optim.Adam(net.parameters(), lr=3e-5)
x, y = torch.randn(4, 3, 320, 320), (torch.rand(4, 1, 320, 320) > 0.5).float()
times = []
for _ in range(steps + 1):
    t = time.perf_counter()
    loss = loss_fn(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"step_s": sorted(times[1:])[len(times[1:]) // 2], "minor_faults": faults}))
"""


def run(tuned: bool, steps: int, threads: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, "1" if tuned else "0", str(steps),
                          str(threads)], capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    started = time.perf_counter()
    for _ in range(args.repeats):
        for tuned in (False, True):
            results[tuned].append(run(tuned, args.steps, args.threads))
    med = {k: statistics.median(r["step_s"] for r in v) for k, v in results.items()}
    faults = {k: statistics.median(r["minor_faults"] for r in v) for k, v in results.items()}
    print(f"u2netp 320 px, batch 4, {args.threads} thread(s), {args.steps} steps x "
          f"{args.repeats} alternating runs ({time.perf_counter() - started:.0f} s)")
    print("| glibc malloc | median s/step | runs | minor page faults (median) |")
    print("|---|---|---|---|")
    for tuned, label in ((False, "default"), (True, "keep_freed_memory()")):
        runs = ", ".join(f"{r['step_s']:.2f}" for r in results[tuned])
        print(f"| {label} | {med[tuned]:.2f} | {runs} | {faults[tuned]:,.0f} |")
    print(f"speed-up: {med[False] / med[True]:.2f}x")


if __name__ == "__main__":
    main()
