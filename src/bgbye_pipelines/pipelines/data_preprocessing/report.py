"""The data report: counts per source and split, rejections by reason, a contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from bgbye_pipelines.pipelines.data_preprocessing.splits import SPLITS

LABEL_HEIGHT = 18


def counts_table(manifest: pd.DataFrame) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for source, group in manifest.groupby("source", sort=True):
        row = {s: int((group["split"] == s).sum()) for s in SPLITS}
        row["total"] = len(group)
        row["binary"] = int((group["mask_kind"] == "binary").sum())
        row["soft"] = int((group["mask_kind"] == "soft").sum())
        table[str(source)] = row
    total = {k: sum(r[k] for r in table.values()) for k in (*SPLITS, "total", "binary", "soft")}
    table["TOTAL"] = total
    return table


def rejection_summary(rejections: pd.DataFrame) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    if rejections.empty:
        return {}, {}
    by_reason = rejections["reason"].value_counts().sort_index()
    by_source: dict[str, dict[str, int]] = {}
    for source, group in rejections.groupby("source", sort=True):
        counts = group["reason"].value_counts().sort_index()
        by_source[str(source)] = {str(k): int(v) for k, v in counts.items()}
    return {str(k): int(v) for k, v in by_reason.items()}, by_source


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Data report (training resolution {report['resolution']} px)",
        "",
        "## Pairs per source and split",
        "",
        "| source | train | val | test | total | binary | soft |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for source, r in report["counts"].items():
        name = f"**{source}**" if source == "TOTAL" else source
        lines.append(
            f"| {name} | {r['train']} | {r['val']} | {r['test']} | {r['total']} "
            f"| {r['binary']} | {r['soft']} |"
        )
    lines += ["", "## Rejections by reason", ""]
    if report["rejections_by_reason"]:
        lines += ["| reason | count |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in report["rejections_by_reason"].items()]
        lines += ["", "| source | reason | count |", "|---|---|---:|"]
        for source, reasons in report["rejections_by_source"].items():
            lines += [f"| {source} | {k} | {v} |" for k, v in reasons.items()]
        lines += ["", "Examples:", ""]
        lines += [
            f"- `{r['id']}`: {r['reason']} ({r['detail']})" for r in report["rejection_examples"]
        ]
    else:
        lines.append("None.")
    failed = report.get("ingestion_failures", {})
    lines += ["", "## Sources that failed to ingest", ""]
    lines += [f"- **{k}**: {v}" for k, v in failed.items()] or ["None."]
    if report.get("provenance"):
        lines += [
            "",
            "## Provenance",
            "",
            "| source | mask origin | licence | dataset |",
            "|---|---|---|---|",
        ]
        for source, p in report["provenance"].items():
            lines.append(
                f"| {source} | {p.get('mask_origin', '')} | {p.get('license', '')} "
                f"| {p.get('dataset', '')} |"
            )
    lines += [
        "",
        "Contact sheet: `data_contact_sheet.png` (image | mask | cut-out per sample).",
        "",
    ]
    return "\n".join(lines)


def checkerboard(size: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 205, 155).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def sample_tiles(image: np.ndarray, mask: np.ndarray, tile: int) -> list[np.ndarray]:
    """image | mask | cut-out on a checkerboard, each ``tile`` x ``tile``."""
    img = np.asarray(Image.fromarray(image).resize((tile, tile), Image.Resampling.BILINEAR))
    m = np.asarray(Image.fromarray(mask).resize((tile, tile), Image.Resampling.BILINEAR))
    a = m.astype(np.float32)[..., None] / 255.0
    cut = (img * a + checkerboard(tile) * (1 - a)).astype(np.uint8)
    return [img, np.repeat(m[..., None], 3, axis=2), cut]


def contact_sheet(
    manifest: pd.DataFrame,
    *,
    samples: int = 4,
    tile: int = 128,
    image_column: str = "model_input_image",
    mask_column: str = "model_input_mask",
) -> Image.Image:
    """One band per source: a label, then ``samples`` triples side by side."""
    from bgbye import imageio
    from bgbye_pipelines.pipelines.data_preprocessing.inspect import read_mask

    sources = sorted(manifest["source"].unique()) if not manifest.empty else []
    gap = 6
    width = max(1, samples * (3 * tile + gap))
    band = LABEL_HEIGHT + tile + gap
    sheet = Image.new("RGB", (width, max(band * len(sources), LABEL_HEIGHT)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if not sources:
        draw.text((4, 2), "no pairs", fill=(0, 0, 0))
    for row, source in enumerate(sources):
        group = manifest[manifest["source"] == source].sort_values("sha256").head(samples)
        y = row * band
        draw.text(
            (4, y + 3),
            f"{source}  ({int((manifest['source'] == source).sum())} pairs; "
            "image | mask | cut-out)",
            fill=(0, 0, 0),
        )
        for col, rec in enumerate(group.itertuples(index=False)):
            image = imageio.decode(Path(getattr(rec, image_column)).read_bytes())
            mask = read_mask(Path(getattr(rec, mask_column)).read_bytes())
            x = col * (3 * tile + gap)
            for k, t in enumerate(sample_tiles(image, mask, tile)):
                sheet.paste(Image.fromarray(t), (x + k * tile, y + LABEL_HEIGHT))
    return sheet
