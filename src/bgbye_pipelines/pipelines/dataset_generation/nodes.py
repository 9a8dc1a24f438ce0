"""dataset_generation nodes: collect subjects, keep confident masks, composite, report.

The composites are the catalog entry ``composited_source`` (``ImageSourceDataset``): a folder
with ``images/``, ``masks/``, ``manifest.csv`` (one row per composite with its provenance) and
``PROVENANCE.json``, exactly the layout a data_ingestion ``path`` source reads, so adding it is
one entry in ``parameters_data_ingestion.yml``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from bgbye import imageio
from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError
from bgbye_pipelines.pipelines.data_preprocessing.inspect import read_mask
from bgbye_pipelines.pipelines.data_preprocessing.report import contact_sheet
from bgbye_pipelines.pipelines.dataset_generation.composite import (
    Jitter,
    background,
    composite,
    list_backgrounds,
)
from bgbye_pipelines.pipelines.dataset_generation.subjects import (
    SUBJECT_COLUMNS,
    from_manifest,
    from_sources,
    mask_confidence,
    sample,
)

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def collect_subjects(params: dict[str, Any]) -> pd.DataFrame:
    """Subject candidates from the manifest and/or extra (possibly unlabelled) sources."""
    cfg = params.get("subjects") or {}
    frames = []
    if cfg.get("manifest"):
        frames.append(
            from_manifest(
                cfg["manifest"],
                list(cfg.get("splits", ["train"])),
                list(cfg.get("sources") or []),
                list(cfg.get("mask_origins", ["annotation"])),
            )
        )
    if cfg.get("extra_sources"):
        frames.append(
            from_sources(
                cfg["extra_sources"],
                Path(params.get("work_dir", "data/02_intermediate/dataset_generation")),
                params.get("cutout") or {},
            )
        )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SUBJECT_COLUMNS)
    df = df.drop_duplicates("subject_id")
    df = sample(df, cfg.get("max_subjects"), int(params.get("seed", 0)))
    if df.empty:
        raise IngestionError(
            "dataset_generation: no subjects (check subjects.manifest and subjects.extra_sources)"
        )
    log.info("dataset_generation: %d subject candidates", len(df))
    return df


def select_confident_subjects(
    candidates: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep masks that are decisive and neither tiny nor filling the frame."""
    cfg = params.get("selection") or {}
    min_conf = float(cfg.get("min_confidence", 0.9))
    min_fg, max_fg = float(cfg.get("min_foreground", 0.02)), float(cfg.get("max_foreground", 0.85))

    def measure(mask_path: str) -> tuple[float, float]:
        try:
            mask = read_mask(Path(mask_path).read_bytes())
        except Exception:  # unreadable: treated as no confidence at all
            return 0.0, 0.0
        return mask_confidence(mask), float(mask.mean()) / 255.0

    with ThreadPoolExecutor(max_workers=max(1, int(params.get("workers", 2)))) as pool:
        measured = list(pool.map(measure, candidates["mask_path"]))
    df = candidates.copy()
    df["confidence"] = [m[0] for m in measured]
    df["fg_fraction"] = [m[1] for m in measured]
    reason = pd.Series("", index=df.index)
    reason[df["confidence"] < min_conf] = "low_confidence"
    reason[(reason == "") & (df["fg_fraction"] < min_fg)] = "subject_too_small"
    reason[(reason == "") & (df["fg_fraction"] > max_fg)] = "subject_fills_frame"
    rejected = {str(k): int(v) for k, v in reason[reason != ""].value_counts().items()}
    kept = df[reason == ""].reset_index(drop=True)
    log.info("dataset_generation: %d confident subjects, rejected %s", len(kept), rejected)
    return kept, rejected


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)])


@dataclass
class _Canvas:
    """What every composite of one run shares."""

    width: int
    height: int
    seed: int
    jitter: Jitter
    bg_files: list[str]


def _name(row: Any, variant: int) -> str:
    return f"{_UNSAFE.sub('_', row.subject_id)}__{variant}"


def _make_one(row: Any, variant: int, canvas: _Canvas
              ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Composite one subject (variant ``variant``) onto a background: (image, matte, its
    manifest row). Seeded by its name, so the same inputs give the same composite."""
    rng = _rng(canvas.seed, _name(row, variant))
    rgb = imageio.decode(Path(row.image_path).read_bytes())
    alpha = read_mask(Path(row.mask_path).read_bytes())
    bg, bg_ref = background(rng, canvas.bg_files, canvas.width, canvas.height)
    image, matte, info = composite(rgb, alpha, bg, rng, canvas.jitter)
    return image, matte, {
        "subject_id": row.subject_id,
        "subject_source": row.source,
        "subject_image": row.image_path,
        "subject_mask": row.mask_path,
        "subject_mask_origin": row.mask_origin,
        "subject_confidence": round(float(row.confidence), 4),
        "background": bg_ref,
        **info,
    }


def _provenance(params: dict[str, Any]) -> Callable[[pd.DataFrame], dict[str, Any]]:
    """PROVENANCE.json of the composited source, from its finished manifest."""

    def make(manifest: pd.DataFrame) -> dict[str, Any]:
        return {
            "dataset": "bgbye composites (dataset_generation pipeline)",
            "license": "derived data: each composite inherits the licence of its subject's "
            "source (see manifest.csv subject_source) and of its background",
            "mask_type": "soft alpha matte (feathered subject mask), composited",
            "built_by": "kedro run --pipeline=dataset_generation",
            "subject_sources": sorted(manifest["subject_source"].unique().tolist())
            if len(manifest) else [],
            "backgrounds": params["backgrounds"]["dir"] or "generated textures",
            "params": {k: params[k] for k in ("canvas", "composites_per_subject", "seed",
                                              "jitter")},
        }

    return make


def generate_composites(subjects: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The ``composited_source`` catalog entry: one callable per composite (made while the
    catalog writes it, so memory stays flat) and the provenance."""
    width, height = (int(v) for v in params["canvas"])
    canvas = _Canvas(width, height, int(params["seed"]),
                     Jitter.from_params(params["jitter"] or {}),
                     list_backgrounds(params["backgrounds"]["dir"]))
    pairs = {
        _name(row, k): partial(_make_one, row, k, canvas)
        for row in subjects.itertuples(index=False)
        for k in range(int(params["composites_per_subject"]))
    }
    return {"pairs": pairs, "provenance": _provenance(params)}


def report_composites(composited: dict[str, Any], subjects: pd.DataFrame,
                      subject_rejections: dict[str, int], params: dict[str, Any]
                      ) -> tuple[dict[str, Any], Image.Image]:
    """The report and contact sheet of the published composited source (read back through
    the catalog)."""
    out, manifest = Path(composited["path"]), composited["manifest"]
    per_source: dict[Any, int] = (
        dict(manifest["subject_source"].value_counts().sort_index()) if len(manifest) else {})
    report = {
        "output_dir": str(out),
        "composites": len(manifest),
        "subjects": len(subjects),
        "subject_rejections": subject_rejections,
        "per_subject_source": {str(k): int(v) for k, v in per_source.items()},
        "backgrounds": "folder" if params["backgrounds"]["dir"] else "generated textures",
        "add_as_source": {"name": "composited", "path": str(out), "mask_origin": "synthetic",
                          "split": "train"},
    }
    return report, _sheet(out, manifest, int(params["contact_sheet_samples"]))


def _sheet(out: Path, manifest: pd.DataFrame, samples: int) -> Image.Image:
    rows = (
        manifest.assign(
            source=manifest["subject_source"],
            sha256=manifest["name"].map(lambda n: hashlib.sha256(n.encode()).hexdigest()),
            image_path=[str(out / p) for p in manifest["image"]],
            mask_path=[str(out / p) for p in manifest["mask"]],
        )
        if len(manifest)
        else pd.DataFrame(columns=["source", "sha256", "image_path", "mask_path"])
    )
    return contact_sheet(rows, samples=samples, image_column="image_path",
                         mask_column="mask_path")
