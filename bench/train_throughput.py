"""Training-loop throughput vs a bare torch loop on the same model and batch.

The bare loop trains on one batch already in memory (no data path at all); the fit loop is
``bgbye_pipelines.ml.fit`` with the real dataset, joint augmentation and background compositing,
DataLoader, scheduler, grad clipping and per-epoch checkpoint excluded from the timing (its
``images_per_s`` counts the training pass only). Runs alternate and the table shows medians.

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
from bgbye_pipelines.ml.fit import FitConfig, fit
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


def bare_loop(model: torch.nn.Module, batch: int, size: int, steps: int) -> float:
    loss_fn = build_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size)
    y = (torch.rand(batch, 1, size, size) > 0.5).float()
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - start)


def fit_loop(model: torch.nn.Module, ds: SegmentationDataset, val: SegmentationDataset,
             batch: int, ckpt: Path) -> float:
    cfg = FitConfig(epochs=1, batch_size=batch, lr=1e-4, warmup_epochs=0, progress=False,
                    device="cpu")
    result = fit(model, build_loss(), ds, val, cfg, ckpt, fingerprint=str(time.time()))
    return float(result.history[-1]["images_per_s"])


def data_only(ds: SegmentationDataset) -> float:
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return len(ds) / (time.perf_counter() - start)


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
        val = SegmentationDataset(table.head(2), args.size, train=False, normalization=norm)
        model = build_model({"encoder": args.encoder,
                             "decoder_channels": [128, 64, 32, 16, 16]}).module
        bare_loop(model, args.batch, args.size, 2)  # warm-up (allocator, oneDNN kernels)
        bare, loop = [], []
        for r in range(args.repeats):
            bare.append(bare_loop(model, args.batch, args.size, args.steps))
            loop.append(fit_loop(model, ds, val, args.batch, tmp / f"ckpt{r}"))
        aug = data_only(ds)
    b, f = statistics.median(bare), statistics.median(loop)
    print(f"\ntraining throughput, {args.encoder} U-Net, batch {args.batch}, {args.size}px, "
          f"{args.steps} steps x {args.repeats} runs (median), torch threads "
          f"{torch.get_num_threads()}")
    print("| loop | images/s | runs |")
    print("|---|---|---|")
    print(f"| bare torch loop (one batch in memory) | {b:.2f} | "
          f"{', '.join(f'{v:.2f}' for v in bare)} |")
    print(f"| bgbye fit loop (dataset + augmentation) | {f:.2f} | "
          f"{', '.join(f'{v:.2f}' for v in loop)} |")
    print(f"| data path alone (augmented samples) | {aug:.1f} | 1 |")
    print(f"\nfit / bare = {f / b:.1%} (target >= 90%)")
    # On a shared box the alternating runs see different loads; the data path's cost per image
    # relative to the bare step gives the same ratio from two rates measured seconds apart.
    print(f"implied by the data path's cost: 1 / (1 + bare/data) = {1 / (1 + b / aug):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
