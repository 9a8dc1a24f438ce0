"""data_preprocessing nodes: inspect, validate, split, resize, report.

The output ``model_input_manifest`` is the contract with training: one row per accepted pair,
columns ``MANIFEST_COLUMNS`` (see docs/data.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from bgbye_pipelines.pipelines.data_preprocessing.inspect import inspect_pair
from bgbye_pipelines.pipelines.data_preprocessing.report import (
    contact_sheet,
    counts_table,
    rejection_summary,
    to_markdown,
)
from bgbye_pipelines.pipelines.data_preprocessing.resize import (
    partition_ids,
    resized_image,
    resized_mask,
)
from bgbye_pipelines.pipelines.data_preprocessing.splits import assign_splits, check_leakage

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "id",
    "source",
    "image_path",
    "mask_path",
    "width",
    "height",
    "mask_kind",
    "sha256",
    "mask_sha256",
    "fg_fraction",
    "mask_origin",
    "split",
    "model_input_image",
    "model_input_mask",
]
REJECTION_COLUMNS = ["id", "source", "image_path", "mask_path", "reason", "detail"]


def _workers(params: dict[str, Any]) -> int:
    return max(1, int(params["workers"]))


def inspect_pairs(raw_pairs: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Decode every pair once: sizes, content hashes, mask statistics, read errors."""
    soft = float(params["soft_threshold"])
    max_pixels = int(params["max_pixels"])

    def one(row: tuple[str, str]) -> dict[str, Any]:
        return inspect_pair(row[0], row[1], soft_threshold=soft, max_pixels=max_pixels)

    rows = list(zip(raw_pairs["image_path"], raw_pairs["mask_path"].fillna(""), strict=True))
    with ThreadPoolExecutor(max_workers=_workers(params)) as pool:
        measured = list(pool.map(one, rows))
    return pd.concat([raw_pairs.reset_index(drop=True), pd.DataFrame(measured)], axis=1)


def _reject(rows: pd.DataFrame, reason: str, detail: pd.Series | str) -> pd.DataFrame:
    out = rows[["id", "source", "image_path", "mask_path"]].copy()
    out["reason"] = reason
    out["detail"] = detail if isinstance(detail, str) else detail.astype(str).values
    return out


def validate_pairs(
    inspected: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the pairs fit for training; every other pair goes to the rejections with a reason."""
    min_fg = float(params["min_foreground"])
    max_fg = float(params["max_foreground"])
    min_side = int(params["min_side"])
    excluded_origins = set(params["exclude_mask_origins"] or [])
    rejected: list[pd.DataFrame] = []
    df = inspected.copy()

    def take(mask: pd.Series, reason: str, detail: pd.Series | str) -> None:
        nonlocal df
        if mask.any():
            rejected.append(
                _reject(df[mask], reason, detail if isinstance(detail, str) else detail[mask])
            )
            df = df[~mask]

    errors = df["error"].notna()
    if errors.any():  # read errors carry their own reason and detail
        rejected.append(
            df.loc[errors, REJECTION_COLUMNS[:4]].assign(
                reason=df.loc[errors, "error"], detail=df.loc[errors, "detail"]
            )
        )
        df = df[~errors]
    take(
        df["mask_origin"].isin(excluded_origins),
        "excluded_mask_origin",
        "mask_origin " + df["mask_origin"].astype(str) + " is in exclude_mask_origins",
    )
    take(
        (df["width"] != df["mask_width"]) | (df["height"] != df["mask_height"]),
        "size_mismatch",
        "image "
        + df["width"].astype(str)
        + "x"
        + df["height"].astype(str)
        + ", mask "
        + df["mask_width"].astype(str)
        + "x"
        + df["mask_height"].astype(str),
    )
    take(
        df[["width", "height"]].min(axis=1) < min_side,
        "too_small",
        f"shorter side below min_side={min_side}",
    )
    take(
        df["fg_fraction"] < min_fg,
        "empty_mask",
        "foreground " + df["fg_fraction"].map("{:.4f}".format) + f" < {min_fg}",
    )
    take(
        df["fg_fraction"] > max_fg,
        "full_mask",
        "foreground " + df["fg_fraction"].map("{:.4f}".format) + f" > {max_fg}",
    )
    # Identical image bytes twice: keep the first by source order then id, reject the rest.
    df = df.sort_values(["source_order", "id"], kind="stable")
    firsts = df.drop_duplicates("sha256").set_index("sha256")
    dup = df.duplicated("sha256", keep="first")
    if dup.any():
        keeper_id = df["sha256"].map(firsts["id"])
        keeper_source = df["sha256"].map(firsts["source"])
        dups = df.loc[dup, REJECTION_COLUMNS[:4]].assign(
            reason=(keeper_source[dup] == df.loc[dup, "source"]).map(
                {True: "duplicate_within_source", False: "duplicate_cross_source"}
            ),
            detail="same image content as " + keeper_id[dup],
        )
        rejected.append(dups)
        df = df[~dup]
    rejections = (
        pd.concat(rejected, ignore_index=True)
        if rejected
        else pd.DataFrame(columns=REJECTION_COLUMNS)
    )
    log.info("validation: %d pairs kept, %d rejected", len(df), len(rejections))
    return df.reset_index(drop=True), rejections[REJECTION_COLUMNS]


def split_pairs(valid_pairs: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    ratios = {
        k: float(v)
        for k, v in params["split_ratios"].items()
    }
    out = valid_pairs.copy()
    out["split"] = assign_splits(out, ratios, str(params["split_salt"]))
    check_leakage(out)
    return out


def make_model_inputs(
    split: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, Callable[[], np.ndarray]],
           pd.DataFrame]:
    """Each pair at ``resolution``: the ``model_input_images`` and ``model_input_masks``
    partitions (callables, so the catalog resizes one pair at a time while it saves, and skips
    the copies it already has) and the final manifest, whose ``model_input_*`` columns are
    those partitions' files under ``model_input_dir``."""
    size = int(params["resolution"])
    fmt = str(params["image_format"])
    root = Path(params["model_input_dir"])
    out = split.copy()
    ids = [
        partition_ids(size, str(source), str(pair_id).split("/", 1)[1], str(sha), str(msha), fmt)
        for source, pair_id, sha, msha in zip(
            out["source"], out["id"], out["sha256"], out["mask_sha256"], strict=True
        )
    ]
    out["model_input_image"] = [str(root / "images" / i) for i, _ in ids]
    out["model_input_mask"] = [str(root / "masks" / m) for _, m in ids]
    images: dict[str, Callable[[], np.ndarray]] = {
        i: partial(resized_image, str(path), size)
        for (i, _), path in zip(ids, out["image_path"], strict=True)
    }
    masks: dict[str, Callable[[], np.ndarray]] = {
        m: partial(resized_mask, str(path), size)
        for (_, m), path in zip(ids, out["mask_path"], strict=True)
    }
    manifest = out[MANIFEST_COLUMNS].sort_values("id", kind="stable").reset_index(drop=True)
    manifest[["width", "height"]] = manifest[["width", "height"]].astype("int64")
    check_leakage(manifest)
    return images, masks, manifest


def build_data_report(
    manifest: pd.DataFrame,
    rejections: pd.DataFrame,
    ingestion_report: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], str, Image.Image]:
    by_reason, by_source = rejection_summary(rejections)
    failures = {
        e["name"]: e.get("reason", "")
        for e in ingestion_report.get("sources", [])
        if e.get("status") == "failed"
    }
    provenance = {
        e["name"]: e.get("provenance", {})
        for e in ingestion_report.get("sources", [])
        if e.get("status") == "ok"
    }
    examples = rejections.head(int(params["rejection_examples"]))
    report = {
        "resolution": int(params["resolution"]),
        "counts": counts_table(manifest),
        "rejections_by_reason": by_reason,
        "rejections_by_source": by_source,
        "rejected_total": len(rejections),
        "rejection_examples": examples[["id", "reason", "detail"]].to_dict("records"),
        "ingestion_failures": failures,
        "provenance": provenance,
    }
    sheet = contact_sheet(
        manifest,
        samples=int(params["contact_sheet_samples"]),
        tile=int(params["contact_sheet_tile"]),
    )
    return report, to_markdown(report), sheet
