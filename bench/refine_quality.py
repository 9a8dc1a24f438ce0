"""Does ``--refine`` help? u2netp on the test split of ../shared/data/real, refine off vs on
(and candidate refinements), scored with the evaluation pipeline's own pysodmetrics scorer.

The split is the pipeline's (``assign_splits``: per source, salted hash, 0.8/0.1/0.1, the
rembg fixtures forced to test), recomputed from the folders. Each image is predicted once; each
variant is applied through ``bgbye.postprocess.compose`` with ``mask_only`` (what the server and
CLI run) or, for candidates, a function of (rgb, alpha).

    PYTHONPATH=src .venv/bin/python bench/refine_quality.py [--limit N] [--candidates]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SOURCES = {"ccp_person": "", "coco_mval": "", "weizmann_horse": "", "rembg_fixtures": "test"}


def test_split(limit: int | None) -> pd.DataFrame:
    from bgbye_pipelines.pipelines.data_ingestion.pairing import pair_folder
    from bgbye_pipelines.pipelines.data_ingestion.sources import Pairing
    from bgbye_pipelines.pipelines.data_preprocessing.splits import assign_splits

    rows = []
    for source, forced in SOURCES.items():
        for key, image, mask in pair_folder(REAL / source, Pairing()).pairs:
            rows.append({"id": f"{source}/{key}", "source": source, "image_path": image,
                         "mask_path": mask, "forced_split": forced})
    pairs = pd.DataFrame(rows)
    pairs["split"] = assign_splits(pairs, {"train": 0.8, "val": 0.1, "test": 0.1}, "bgbye-v1")
    test = pairs[pairs["split"] == "test"]
    if limit:
        test = test.groupby("source", group_keys=False).head(limit)
    return test.reset_index(drop=True)


def served(refine: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from bgbye.postprocess import RemoveOptions, compose

    options = RemoveOptions(mask_only=True, refine=refine)
    return lambda rgb, alpha: compose(rgb, alpha, options)


def candidates() -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Earlier ideas, kept so the table can be re-made (see docs/server.md, "Refine edges")."""
    import cv2

    def refine_alpha(rgb: np.ndarray, alpha: np.ndarray, radius: int = 8,
                     eps: float = 1e-3) -> np.ndarray:
        """The guided filter (He et al., image as guide) that --refine was until it was measured."""
        guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        p = alpha.astype(np.float32) / 255.0
        ksize = (2 * radius + 1, 2 * radius + 1)

        def box(x: np.ndarray) -> np.ndarray:
            return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

        mean_i, mean_p = box(guide), box(p)
        a = (box(guide * p) - mean_i * mean_p) / (box(guide * guide) - mean_i * mean_i + eps)
        b = mean_p - a * mean_i
        return np.clip((box(a) * guide + box(b)) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def band(alpha: np.ndarray, frac: float) -> np.ndarray:
        r = max(2, round(frac * max(alpha.shape)))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        fg = (alpha > 127).astype(np.uint8)
        return (cv2.dilate(fg, k) - cv2.erode(fg, k)).astype(bool)

    def guided_in_band(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        out = np.where(alpha > 127, 255, 0).astype(np.uint8)
        g = refine_alpha(rgb, alpha)
        m = band(alpha, 0.01)
        out[m] = g[m]
        return out

    def snap(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return np.where(alpha > 127, 255, 0).astype(np.uint8)

    def cf_matting(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """rembg's alpha matting: trimap from thresholds 240/10 and an erosion of 10 px, then
        pymatting's closed-form alpha (rembg's defaults)."""
        from pymatting import estimate_alpha_cf

        fg = cv2.erode((alpha > 240).astype(np.uint8), np.ones((10, 10), np.uint8))
        bg = cv2.erode((alpha < 10).astype(np.uint8), np.ones((10, 10), np.uint8))
        trimap = np.full(alpha.shape, 0.5)
        trimap[fg > 0] = 1.0
        trimap[bg > 0] = 0.0
        a = estimate_alpha_cf(rgb.astype(np.float64) / 255.0, trimap)
        return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)

    def levels(lo: int, hi: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        lut = np.clip((np.arange(256) - lo) * 255.0 / (hi - lo) + 0.5, 0, 255).astype(np.uint8)
        return lambda rgb, alpha: lut[alpha]

    def guided_then_levels(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return levels(64, 192)(rgb, refine_alpha(rgb, alpha, radius=4, eps=1e-4))

    return {"guided filter (old --refine)": refine_alpha, "levels 32-224": levels(32, 224),
            "levels 96-160": levels(96, 160), "guided r4 + levels 64-192": guided_then_levels,
            "snap@127": snap, "guided in 1% band": guided_in_band,
            "closed-form (rembg)": cf_matting}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="test images per source")
    parser.add_argument("--candidates", action="store_true", help="also score earlier ideas")
    args = parser.parse_args()

    from bgbye.remover import Remover
    from bgbye_pipelines.pipelines.model_evaluation.nodes import load_pair
    from bgbye_pipelines.pipelines.model_evaluation.scoring import GroupScores

    rows = test_split(args.limit)
    remover = Remover.from_model("u2netp")
    variants = {"refine off": served(False), "refine on": served(True)}
    if args.candidates:
        variants.update(candidates())
    scores = {name: {"all": GroupScores()} for name in variants}
    seconds = dict.fromkeys(variants, 0.0)
    for _, row in rows.iterrows():
        rgb, gt = load_pair(row)
        alpha = remover.remove_array(rgb)
        for name, fn in variants.items():
            start = time.perf_counter()
            pred = fn(rgb, alpha)
            seconds[name] += time.perf_counter() - start
            for group in ("all", str(row["source"])):
                scores[name].setdefault(group, GroupScores()).step(pred, gt, False)
    groups = ["all", *sorted(rows["source"].unique())]
    print(f"u2netp, test split of {REAL} ({len(rows)} images), MAE (lower is better)")
    print("| variant | " + " | ".join(groups) + " | ms/image (post-process only) |")
    print("|---" * (len(groups) + 2) + "|")
    for name in variants:
        maes = [f"{scores[name][g].results()['mae']:.4f}" for g in groups]
        print(f"| {name} | " + " | ".join(maes) + f" | {1000 * seconds[name] / len(rows):.0f} |")


if __name__ == "__main__":
    main()
