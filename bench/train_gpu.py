"""Train the conf/shared_u2netp recipe longer on a GPU (AMP, device auto), from a data pack.

Prepared for issue 13's item 8; NOT run on a GPU yet (no accelerator was lent to the task).
The same nodes as ``kedro run --env shared_u2netp`` (train_model, export_model), with the
pack's manifest (``bench/train_gpu_pack.py``: images already Lanczos-resized to 320, so the
serving resize is the identity) and, by default, bigger batches, full epochs and a longer
budget. Writes the ONNX + spec, the history and the summary to --out; score the model back on
the CPU machine with ``kedro run --env shared_u2netp --pipelines model_evaluation`` (originals,
through bgbye.Remover) so its numbers are comparable with the CPU runs, and report them apart.

    PYTHONPATH=src python bench/train_gpu.py --pack data/gpu_pack --u2netp u2netp.onnx \\
        --out "$OUT" --minutes 8 [--batch 16] [--lr 3e-5]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import pandas as pd
import torch
from tests.bgbye_pipelines.conf_fixtures import env_parameters

from bgbye_pipelines.pipelines.model_training.nodes import export_model, train_model


def params_for(args: argparse.Namespace) -> dict:
    params = copy.deepcopy(env_parameters("shared_u2netp")["model_training"])
    params.update(name=args.name, checkpoint_dir=str(args.out / "checkpoints"),
                  output_dir=str(args.out / "models"), limit={"train": None, "val": None})
    params["model"]["u2netp_path"] = str(args.u2netp)
    params["fit"].update(batch_size=args.batch, lr=args.lr, samples_per_epoch=None,
                         max_minutes=args.minutes, epochs=1000, patience=args.patience,
                         device="auto", amp=None, threads=None, num_workers=args.workers)
    if params["general_images"]:
        params["general_images"].update(limit=None, per_step=max(1, args.batch // 4))
    return params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--u2netp", type=Path, required=True, help="the stock u2netp.onnx")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", default="bgbye-u2netp-gpu")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    manifest = pd.read_parquet(args.pack / "manifest.parquet")
    for col in ("image_path", "mask_path"):
        manifest[col] = [str(args.pack / p) for p in manifest[col]]
    print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    params = params_for(args)
    start = time.perf_counter()
    history, summary, best = train_model(manifest, params)
    exported, _ = export_model(manifest, summary, best, params)
    args.out.mkdir(parents=True, exist_ok=True)
    history.to_csv(args.out / "training_history.csv", index=False)
    (args.out / "training_summary.json").write_text(json.dumps(
        {**summary, "wall_seconds": time.perf_counter() - start, "exported": exported},
        indent=2, default=str))
    print(history.to_string())
    print(json.dumps({k: summary[k] for k in ("images_seen", "stop_reason", "device",
                                               "val_metrics") if k in summary}, default=str))


if __name__ == "__main__":
    main()
