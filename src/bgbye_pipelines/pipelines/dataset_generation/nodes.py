"""dataset_generation nodes: collect subjects, keep confident masks, composite, write a source.

The output folder (``output_dir``) has ``images/``, ``masks/``, ``manifest.csv`` (one row per
composite with its provenance) and ``PROVENANCE.json``: exactly the layout a data_ingestion
``path`` source reads, so adding it is one entry in ``parameters_data_ingestion.yml``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from bgbye import imageio
from bgbye.atomic import atomic_write_bytes, atomic_write_text
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

    build: Path
    width: int
    height: int
    seed: int
    jitter: Jitter
    bg_files: list[str]


def _make_one(subjects: pd.DataFrame, canvas: _Canvas, job: tuple[int, int]) -> dict[str, Any]:
    """Composite subject ``job[0]`` (variant ``job[1]``) onto a background; its manifest row."""
    row = subjects.iloc[job[0]]
    name = f"{_UNSAFE.sub('_', row.subject_id)}__{job[1]}"
    rng = _rng(canvas.seed, name)
    rgb = imageio.decode(Path(row.image_path).read_bytes())
    alpha = read_mask(Path(row.mask_path).read_bytes())
    bg, bg_ref = background(rng, canvas.bg_files, canvas.width, canvas.height)
    image, matte, info = composite(rgb, alpha, bg, rng, canvas.jitter)
    atomic_write_bytes(canvas.build / "images" / f"{name}.jpg", imageio.encode(image, "jpg"))
    atomic_write_bytes(canvas.build / "masks" / f"{name}.png", imageio.encode(matte, "png"))
    return {
        "name": name,
        "image": f"images/{name}.jpg",
        "mask": f"masks/{name}.png",
        "subject_id": row.subject_id,
        "subject_source": row.source,
        "subject_image": row.image_path,
        "subject_mask": row.mask_path,
        "subject_mask_origin": row.mask_origin,
        "subject_confidence": round(float(row.confidence), 4),
        "background": bg_ref,
        **info,
    }


def _publish(build: Path, out: Path, manifest: pd.DataFrame, params: dict[str, Any]) -> None:
    """Write the manifest and PROVENANCE.json, then swap the finished folder in whole."""
    atomic_write_text(build / "manifest.csv", manifest.to_csv(index=False))
    provenance = {
        "dataset": "bgbye composites (dataset_generation pipeline)",
        "license": "derived data: each composite inherits the licence of its subject's source "
        "(see manifest.csv subject_source) and of its background",
        "mask_type": "soft alpha matte (feathered subject mask), composited",
        "built_by": "kedro run --pipeline=dataset_generation",
        "subject_sources": sorted(manifest["subject_source"].unique().tolist())
        if len(manifest) else [],
        "backgrounds": params["backgrounds"]["dir"] or "generated textures",
        "params": {k: params[k] for k in ("canvas", "composites_per_subject", "seed", "jitter")},
    }
    atomic_write_text(build / "PROVENANCE.json", json.dumps(provenance, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build.rename(out)


def _report(out: Path, manifest: pd.DataFrame, subjects: pd.DataFrame,
            subject_rejections: dict[str, int], bg_files: list[str]) -> dict[str, Any]:
    per_source: dict[Any, int] = (
        dict(manifest["subject_source"].value_counts().sort_index()) if len(manifest) else {})
    return {
        "output_dir": str(out),
        "composites": len(manifest),
        "subjects": len(subjects),
        "subject_rejections": subject_rejections,
        "per_subject_source": {str(k): int(v) for k, v in per_source.items()},
        "backgrounds": "folder" if bg_files else "generated textures",
        "add_as_source": {"name": "composited", "path": str(out), "mask_origin": "synthetic",
                          "split": "train"},
    }


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


def generate_composites(
    subjects: pd.DataFrame, subject_rejections: dict[str, int], params: dict[str, Any]
) -> tuple[dict[str, Any], Image.Image]:
    """Write the composited source folder; return its report and a contact sheet."""
    out = Path(params["output_dir"])
    width, height = (int(v) for v in params["canvas"])
    bg_files = list_backgrounds(params["backgrounds"]["dir"])
    build = out.with_name(f".{out.name}.building")  # swapped in whole at the end
    shutil.rmtree(build, ignore_errors=True)
    canvas = _Canvas(build, width, height, int(params["seed"]),
                     Jitter.from_params(params["jitter"] or {}), bg_files)
    jobs = [(i, k) for i in range(len(subjects))
            for k in range(int(params["composites_per_subject"]))]
    with ThreadPoolExecutor(max_workers=max(1, int(params["workers"]))) as pool:
        rows = list(pool.map(lambda job: _make_one(subjects, canvas, job), jobs))
    manifest = pd.DataFrame(rows)
    _publish(build, out, manifest, params)
    report = _report(out, manifest, subjects, subject_rejections, bg_files)
    return report, _sheet(out, manifest, int(params["contact_sheet_samples"]))
