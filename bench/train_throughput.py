"""Training-loop throughput vs a bare torch loop on the same model and batch.

The bare loop trains on one batch already in memory (no data path at all); the fit loop is the
training pass of ``bgbye_pipelines.ml.fit`` (``_train_epoch``: DataLoader over the real dataset
with joint augmentation and background compositing, AdamW, scheduler, grad clipping, progress
bar) over as many images. Runs alternate; the table shows medians, by wall clock and by CPU
time (the latter stays meaningful when other people's jobs share the cores).

    .venv/bin/python bench/train_throughput.py [--size 224] [--batch 8] [--steps 12] [--repeats 3]

Uses ../shared/data/real when present, generated images otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from bgbye_pipelines.ml.data import AugmentConfig, Normalization, SegmentationDataset
from bgbye_pipelines.ml.fit import FitConfig, _setup, _train_epoch
from bgbye_pipelines.ml.losses import build_loss
from bgbye_pipelines.ml.model import build_model

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def pairs(n: int, tmp: Path) -> pd.DataFrame:
    rows = []
    if REAL.is_dir():
        images = sorted(REAL.glob("*/images/*"))
        for img in images[:: max(1, len(images) // n)][:n]:
            mask = img.parent.parent / "masks" / (img.stem + ".png")
            if mask.is_file():
                rows.append({"id": f"{img.parent.parent.name}/{img.stem}",
                             "source": img.parent.parent.name, "image_path": str(img),
                             "mask_path": str(mask), "split": "train"})
    rng = np.random.default_rng(0)
    while len(rows) < n:  # generated pairs: a bright ellipse on noise
        i = len(rows)
        img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
        yy, xx = np.mgrid[:300, :400]
        m = (((xx - 200) / 120) ** 2 + ((yy - 150) / 90) ** 2 < 1).astype(np.uint8) * 255
        img[m > 0] = (230, 200, 90)
        Image.fromarray(img).save(tmp / f"{i}.png")
        Image.fromarray(m).save(tmp / f"{i}_m.png")
        rows.append({"id": f"gen/{i}", "source": "gen", "image_path": str(tmp / f"{i}.png"),
                     "mask_path": str(tmp / f"{i}_m.png"), "split": "train"})
    return pd.DataFrame(rows)


Rates = tuple[float, float]  # (images per wall second, images per CPU second)


def _rates(images: int, wall: float, cpu: float) -> Rates:
    return images / wall, images / cpu


def bare_loop(model: torch.nn.Module, batch: int, size: int, steps: int) -> Rates:
    loss_fn = build_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size)
    y = (torch.rand(batch, 1, size, size) > 0.5).float()
    model.train()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return _rates(batch * steps, time.perf_counter() - wall, time.process_time() - cpu)


def fit_loop(model: torch.nn.Module, ds: SegmentationDataset, batch: int) -> Rates:
    """One epoch of the fit loop's own training pass (DataLoader, augmentation, AdamW,
    scheduler, grad clipping, progress bar); validation and checkpointing are per epoch."""
    cfg = FitConfig(epochs=1, batch_size=batch, lr=1e-4, warmup_epochs=0, progress=True,
                    device="cpu")
    run = _setup(model, ds, ds, cfg)  # the fit loop's own loaders, optimizer and scheduler
    wall, cpu = time.perf_counter(), time.process_time()
    _, seen = _train_epoch(model, build_loss(), run, cfg, None, desc="fit loop")
    return _rates(seen, time.perf_counter() - wall, time.process_time() - cpu)


def data_only(ds: SegmentationDataset) -> Rates:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(len(ds)):
        ds[i]
    return _rates(len(ds), time.perf_counter() - wall, time.process_time() - cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--encoder", default="efficientnet-lite0")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        table = pairs(args.batch * args.steps, tmp)
        norm = Normalization()
        ds = SegmentationDataset(table, args.size, train=True, augment=AugmentConfig(),
                                 normalization=norm)
        model = build_model({"encoder": args.encoder,
                             "decoder_channels": [128, 64, 32, 16, 16]}).module
        bare_loop(model, args.batch, args.size, 2)  # warm-up (allocator, oneDNN kernels)
        bare: list[Rates] = []
        loop: list[Rates] = []
        for _ in range(args.repeats):
            bare.append(bare_loop(model, args.batch, args.size, args.steps))
            loop.append(fit_loop(model, ds, args.batch))
        aug = data_only(ds)
    print(f"\ntraining throughput, {args.encoder} U-Net, batch {args.batch}, {args.size}px, "
          f"{args.steps} steps x {args.repeats} runs (median), torch threads "
          f"{torch.get_num_threads()}")
    print("| loop | images/s (wall) | images per CPU-second | runs (wall) |")
    print("|---|---|---|---|")
    rows = [("bare torch loop (one batch in memory)", bare),
            ("bgbye fit loop (dataset + augmentation)", loop)]
    med = {}
    for label, runs in rows:
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        med[label] = (wall, cpu)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | "
              f"{', '.join(f'{r[0]:.2f}' for r in runs)} |")
    print(f"| data path alone (augmented samples) | {aug[0]:.1f} | {aug[1]:.1f} | 1 |")
    (bw, bc), (fw, fc) = med[rows[0][0]], med[rows[1][0]]
    print(f"\nfit / bare: {fw / bw:.1%} by wall clock, {fc / bc:.1%} by CPU time "
          "(target >= 90%; on a shared box trust the CPU-time ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
