"""data_ingestion nodes: obtain every configured source, pair images with masks, report.

One failing source never hides the others: each is tried, and its failure is recorded by name
with the reason. Only a failing *required* source, or nothing ingested at all, fails the run
(``check_ingestion``), and that happens after the report has been saved.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from bgbye_pipelines.pipelines.data_ingestion.archives import extract, is_archive
from bgbye_pipelines.pipelines.data_ingestion.download import (
    download_gdrive,
    download_http,
    filename_from_url,
)
from bgbye_pipelines.pipelines.data_ingestion.pairing import pair_folder
from bgbye_pipelines.pipelines.data_ingestion.sources import (
    IngestionError,
    SourceSpec,
    parse_sources,
)
from bgbye_pipelines.pipelines.data_ingestion.synthetic import write_pairs

log = logging.getLogger(__name__)

RAW_PAIR_COLUMNS = [
    "id",
    "source",
    "image_path",
    "mask_path",
    "mask_origin",
    "forced_split",
    "source_order",
]
# Fields of a source's own PROVENANCE.json worth carrying into the report.
PROVENANCE_FIELDS = ("dataset", "license", "mask_type", "repo", "commit", "subjects", "built_by")


def acquire(spec: SourceSpec, raw_dir: Path, downloads_dir: Path, timeout: float) -> Path:
    """Make the source's files available locally; return the folder to pair in."""
    target = raw_dir / spec.name
    if spec.generated is not None:
        g = spec.generated
        return write_pairs(
            target, count=g.count, width=g.width, height=g.height, seed=g.seed, soft=g.soft
        )
    if spec.path is not None:
        local = Path(spec.path)
        if local.is_dir():
            return local  # used in place: no copy of a folder that is already on disk
        if is_archive(local):
            return extract(local, target, label=spec.name)
        if not local.exists():
            raise IngestionError(f"{spec.name}: path not found: {spec.path}")
        raise IngestionError(f"{spec.name}: {spec.path} is neither a folder nor a zip/tar archive")
    if spec.url is not None:
        name = spec.filename or filename_from_url(spec.url)
        archive = download_http(
            spec.url,
            downloads_dir / spec.name / name,
            sha256=spec.sha256,
            timeout=timeout,
            label=spec.name,
        )
    else:
        assert spec.gdrive is not None
        name = spec.filename or f"{spec.gdrive}.bin"
        archive = download_gdrive(
            spec.gdrive,
            downloads_dir / spec.name / name,
            sha256=spec.sha256,
            timeout=timeout,
            label=spec.name,
        )
    return extract(archive, target, label=spec.name)


def read_provenance(root: Path, spec: SourceSpec) -> dict[str, Any]:
    found: dict[str, Any] = {}
    file = root / "PROVENANCE.json"
    if file.is_file():
        try:
            data = json.loads(file.read_text())
            found = {k: data[k] for k in PROVENANCE_FIELDS if k in data}
        except (OSError, ValueError):
            found = {"warning": "PROVENANCE.json unreadable"}
    return {**found, **spec.provenance, "mask_origin": spec.mask_origin}


def ingest_sources(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Try every source; return the candidate pairs and the ingestion report."""
    specs = parse_sources(params["sources"])
    raw_dir = Path(params["raw_dir"])
    downloads_dir = Path(params["downloads_dir"])
    timeout = float(params["timeout_seconds"])
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for order, spec in enumerate(specs):
        entry: dict[str, Any] = {
            "name": spec.name,
            "kind": spec.kind,
            "required": spec.required,
            "mask_origin": spec.mask_origin,
            "split": spec.split,
        }
        entries.append(entry)
        if not spec.enabled:
            entry.update(status="disabled", pairs=0)
            continue
        try:
            root = acquire(spec, raw_dir, downloads_dir, timeout)
            found = pair_folder(root, spec.pairing)
            if not found.pairs:
                raise IngestionError(
                    f"{spec.name}: no image/mask pairs under {root} "
                    f"(images {spec.pairing.images!r}, "
                    f"masks {spec.pairing.masks!r}, {len(found.unpaired)} images without a mask)"
                )
        except IngestionError as exc:
            log.warning("source %s failed: %s", spec.name, exc.message)
            entry.update(status="failed", reason=exc.message, pairs=0)
            continue
        except Exception as exc:  # an unexpected bug in one source must not hide the others
            log.exception("source %s failed unexpectedly", spec.name)
            entry.update(status="failed", reason=f"{type(exc).__name__}: {exc}", pairs=0)
            continue
        entry.update(
            status="ok",
            root=os.fspath(root),
            pairs=len(found.pairs),
            unpaired=len(found.unpaired),
            unpaired_examples=found.unpaired[:5],
            provenance=read_provenance(root, spec),
        )
        log.info("source %s: %d pairs from %s", spec.name, len(found.pairs), root)
        for key, image, mask in found.pairs:
            rows.append(
                {
                    "id": f"{spec.name}/{key}",
                    "source": spec.name,
                    "image_path": image,
                    "mask_path": mask,
                    "mask_origin": spec.mask_origin,
                    "forced_split": spec.split or "",
                    "source_order": order,
                }
            )
    pairs = pd.DataFrame(rows, columns=RAW_PAIR_COLUMNS)
    failed = [e for e in entries if e["status"] == "failed"]
    report = {
        "sources": entries,
        "total_pairs": len(pairs),
        "failed": [e["name"] for e in failed],
        "failed_required": [e["name"] for e in failed if e["required"]],
    }
    return pairs, report


def check_ingestion(candidate_pairs: pd.DataFrame, report: dict[str, Any]) -> pd.DataFrame:
    """Fail the run only when a required source failed or nothing at all was ingested."""
    reasons = {e["name"]: e.get("reason", "") for e in report["sources"]}
    if report["failed_required"]:
        detail = "; ".join(f"{n}: {reasons[n]}" for n in report["failed_required"])
        raise IngestionError(f"Required source(s) failed: {detail}")
    if candidate_pairs.empty:
        detail = "; ".join(f"{n}: {reasons[n]}" for n in report["failed"]) or "no sources enabled"
        raise IngestionError(f"Nothing was ingested ({detail})")
    return candidate_pairs
