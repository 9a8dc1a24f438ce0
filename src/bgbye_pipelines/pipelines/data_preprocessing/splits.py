"""Deterministic, source-stratified train/val/test split and the leakage check.

Within each source, pairs are ordered by a salted hash of their id and cut at the configured
ratios, so every source is represented in every split in proportion, the result does not
depend on file order or machine, and changing the salt reshuffles everything on purpose.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from bgbye.errors import BgbyeError

SPLITS = ("train", "val", "test")


class LeakageError(BgbyeError):
    code = "split_leakage"
    http_status = 500


def id_hash(identifier: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{identifier}".encode()).hexdigest()


def quotas(n: int, ratios: dict[str, float]) -> dict[str, int]:
    """Pairs per split out of ``n``: val and test get at least one each from 3 pairs up."""
    total = sum(ratios.get(s, 0.0) for s in SPLITS) or 1.0
    counts = {}
    for split in ("val", "test"):
        share = ratios.get(split, 0.0) / total
        k = round(n * share)
        if share > 0 and n >= 3:
            k = max(k, 1)
        counts[split] = k
    counts["train"] = max(0, n - counts["val"] - counts["test"])
    return counts


def assign_splits(pairs: pd.DataFrame, ratios: dict[str, float], salt: str) -> pd.Series:
    """A split per row (index-aligned). Rows with a non-empty ``forced_split`` keep it."""
    split = pd.Series("", index=pairs.index, dtype=object)
    forced = pairs.get("forced_split", pd.Series("", index=pairs.index)).fillna("")
    split[forced != ""] = forced[forced != ""]
    free = pairs[forced == ""]
    for _, group in free.groupby("source", sort=True):
        order = group["id"].map(lambda i: id_hash(i, salt)).sort_values().index
        q = quotas(len(order), ratios)
        cut_val, cut_test = q["val"], q["val"] + q["test"]
        split[order[:cut_val]] = "val"
        split[order[cut_val:cut_test]] = "test"
        split[order[cut_test:]] = "train"
    return split


def check_leakage(manifest: pd.DataFrame) -> None:
    """No image content (sha256) and no id may appear in two splits."""
    for column in ("sha256", "id"):
        spread = manifest.groupby(column)["split"].nunique()
        leaked = spread[spread > 1]
        if not leaked.empty:
            examples = ", ".join(map(str, leaked.index[:5]))
            raise LeakageError(
                f"{len(leaked)} {column} value(s) appear in several splits: {examples}"
            )
    unknown = set(manifest["split"]) - set(SPLITS)
    if unknown:
        raise LeakageError(f"unknown split value(s): {sorted(unknown)}")
