"""Subjects to composite: ground-truth pairs, or unlabelled images cut out by a bgbye model.

Labelled subjects come from the preprocessed manifest (training split only by default: a
composite of a validation or test subject would leak it into training) and/or from extra
sources in the data_ingestion format. Unlabelled images (``pairing.masks: null``) get masks
from any bgbye engine or provider through the same batch executors as ``bgbye remove``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bgbye.batch import Executor, LocalExecutor, RayExecutor, pending, plan, remove_folder
from bgbye.options import RemoveOptions
from bgbye.settings import Settings
from bgbye_pipelines.pipelines.data_ingestion.nodes import acquire
from bgbye_pipelines.pipelines.data_ingestion.pairing import pair_folder
from bgbye_pipelines.pipelines.data_ingestion.sources import (
    ConfigError,
    IngestionError,
    parse_sources,
)

log = logging.getLogger(__name__)

SUBJECT_COLUMNS = ["subject_id", "source", "image_path", "mask_path", "mask_origin"]


def from_manifest(
    path: str, splits: list[str], sources: list[str], mask_origins: list[str]
) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise IngestionError(
            f"subjects.manifest {path} does not exist: run data_ingestion and "
            "data_preprocessing first, or set subjects.manifest: null"
        )
    df = pd.read_parquet(file)
    keep = df["split"].isin(splits) & df["mask_origin"].isin(mask_origins)
    if sources:
        keep &= df["source"].isin(sources)
    log.info(
        "subjects: %d of %d manifest rows (splits %s, mask origins %s, sources %s)",
        int(keep.sum()),
        len(df),
        splits,
        mask_origins,
        sources or "all",
    )
    df = df[keep]
    return pd.DataFrame(
        {
            "subject_id": df["id"],
            "source": df["source"],
            "image_path": df["image_path"],
            "mask_path": df["mask_path"],
            "mask_origin": df["mask_origin"],
        }
    )


def cut_out(
    images: list[str],
    out_dir: Path,
    *,
    model: str,
    executor: str,
    workers: int,
    settings: Settings | None = None,
) -> dict[str, str]:
    """Masks for ``images`` from a bgbye engine; returns image -> mask path (failures omitted).

    The same batch engine as ``bgbye remove`` (naming, resume, partial-file cleanup), on the
    local thread pool or on Ray.
    """
    if not images:
        return {}
    settings = settings or Settings()
    options = RemoveOptions(format="png", mask_only=True)
    runner: Executor
    if executor == "ray":
        runner = RayExecutor(settings.ray_address)  # RAY_ADDRESS, else a local Ray
    elif executor == "local":
        runner = LocalExecutor(workers)
    else:
        raise ConfigError(f"executor must be local or ray, not {executor!r}")
    summary = remove_folder(images, out_dir, ref=model, options=options, settings=settings,
                            executor=runner)
    for failure in summary.failures:
        log.warning("cut-out failed for %s: %s", failure.path, failure.message)
    tasks = plan(images, out_dir, "png")
    todo = {t.out for t in pending(tasks)}
    return {t.src: t.out for t in tasks if t.out not in todo}


def from_sources(
    raw_sources: list[dict[str, Any]], work_dir: Path, model: dict[str, Any]
) -> pd.DataFrame:
    rows: list[dict[str, str]] = []
    for spec in parse_sources(raw_sources):
        if not spec.enabled:
            continue
        root = acquire(spec, work_dir / "sources", work_dir / "_downloads", 60.0)
        found = pair_folder(root, spec.pairing)
        if spec.pairing.masks is None:  # unlabelled: let a model draw the masks
            images = [image for _, image, _ in found.pairs]
            masks = cut_out(
                images,
                work_dir / "cutouts" / spec.name,
                model=str(model.get("name", "u2netp")),
                executor=str(model.get("executor", "local")),
                workers=int(model.get("workers", 2)),
            )
            origin = f"model:{model.get('name', 'u2netp')}"
            pairs = [(key, image, masks.get(image, "")) for key, image, _ in found.pairs]
        else:
            origin = spec.mask_origin
            pairs = found.pairs
        rows += [
            {
                "subject_id": f"{spec.name}/{key}",
                "source": spec.name,
                "image_path": image,
                "mask_path": mask,
                "mask_origin": origin,
            }
            for key, image, mask in pairs
            if mask
        ]
    return pd.DataFrame(rows, columns=SUBJECT_COLUMNS)


def mask_confidence(mask: np.ndarray, low: int = 25, high: int = 230) -> float:
    """Share of pixels the mask is decisive about (clearly background or clearly subject)."""
    return float(((mask <= low) | (mask >= high)).mean())


def sample(df: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """A deterministic subset (ordered by a seeded hash of the id), whatever the row order."""
    if limit is None or len(df) <= limit:
        return df.reset_index(drop=True)
    order = df["subject_id"].map(lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    return df.loc[order.sort_values().index[:limit]].reset_index(drop=True)
