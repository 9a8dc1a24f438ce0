"""Pack pre-resized training data for a GPU machine (item 8 of issue 13): at most 64 MiB.

Every image of the model-input manifest's chosen sources (train, val and test splits, plus the
general images) is resized exactly as u2netp is served (decoded by ``bgbye.imageio``, Lanczos
to 320x320) and stored as JPEG (quality 95), masks as PNG, with a manifest whose paths are
relative to the pack. ``bench/train_gpu.py`` trains the conf/shared_u2netp recipe on it.

    PYTHONPATH=src python bench/train_gpu_pack.py \\
        --manifest data/05_model_input/manifest.parquet --out data/gpu_pack
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from PIL import Image

from bgbye_pipelines.ml.data import load_image

LIMIT = 64 * 2**20


def pack(manifest: pd.DataFrame, out: Path, size: int = 320) -> pd.DataFrame:
    rows = []
    for row in manifest.itertuples():
        stem = str(row.id).replace("/", "__")
        img_rel, mask_rel = f"images/{stem}.jpg", f"masks/{stem}.png"
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(load_image(str(row.image_path), size, "lanczos")).save(
            out / img_rel, quality=95)
        with Image.open(str(row.mask_path)) as mk:
            mk.convert("L").resize((size, size), Image.Resampling.BILINEAR).save(out / mask_rel)
        rows.append({**row._asdict(), "image_path": img_rel, "mask_path": mask_rel,
                     "model_input_image": None, "model_input_mask": None})
    table = pd.DataFrame(rows).drop(columns=["Index"])
    table.to_parquet(out / "manifest.parquet")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sources", nargs="*", default=None, help="default: every source")
    args = ap.parse_args()
    manifest = pd.read_parquet(args.manifest)
    if args.sources:
        manifest = manifest[manifest["source"].isin(args.sources)]
    table = pack(manifest, args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(table)} pairs, {total / 2**20:.1f} MiB in {args.out}")
    if total > LIMIT:
        raise SystemExit(f"the pack is {total / 2**20:.1f} MiB: a device run carries 64 MiB")


if __name__ == "__main__":
    main()
