"""Nodes of model_evaluation. Parameters: ``conf/<env>/parameters_model_evaluation.yml``.

What is scored is what is served: every model (the exported ONNX and the baselines) runs through
``bgbye.remover.Remover`` on the ORIGINAL test images, exactly as ``bgbye remove`` would; no torch.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from bgbye import imageio
from bgbye.engines import EngineCache
from bgbye.errors import BgbyeError
from bgbye.models.registry import HEURISTIC, Registry
from bgbye.remover import Remover
from bgbye.settings import Settings
from bgbye_pipelines.pipelines.model_evaluation.scoring import GroupScores, image_mae
from bgbye_pipelines.pipelines.model_evaluation.spec_metrics import publish_test_metrics, trained_on

log = logging.getLogger(__name__)
OVERALL = "overall"


def make_settings(params: dict[str, Any], exported: dict[str, Any]) -> Settings:
    """Runtime settings for evaluation; the trained model's folder is one of the model dirs.

    Scores must not depend on the environment (``BGBYE_PRECISION``, ``BGBYE_MAX_PIXELS``...), so
    this starts from the documented defaults; only where fetched baselines live comes from
    ``BGBYE_MODEL_DIR`` (through Settings) when conf leaves ``model_dir`` null.
    """
    model_dir = Path(params["model_dir"]) if params["model_dir"] else Settings().model_dir
    update: dict[str, Any] = {"pushgateway_url": None, "model_dir": model_dir,
                              "extra_model_dirs": [Path(exported["onnx_path"]).parent]}
    if params["threads"]:
        update["threads"] = int(params["threads"])
    return Settings.defaults().model_copy(update=update)


def model_refs(params: dict[str, Any], exported: dict[str, Any], settings: Settings) -> list[str]:
    """The trained model (by path) first, then the baselines; ``auto`` = every registered model."""
    refs = [str(exported["onnx_path"])]
    baselines = params["baselines"]
    if baselines == "auto":
        entries = Registry(settings).entries()
        names = [n for n, e in entries.items() if e.available and n != exported["name"]]
        baselines = [*names, HEURISTIC]
    return refs + [str(b) for b in baselines or []]


def load_pair(row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Original image (decoded as the server would) and its ground truth at the same size."""
    rgb = imageio.read_rgb(str(row["image_path"]))
    with Image.open(str(row["mask_path"])) as mk:
        gt = mk.convert("L")
        if gt.size != (rgb.shape[1], rgb.shape[0]):
            gt = gt.resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.BILINEAR)
        return rgb, np.asarray(gt, dtype=np.uint8)


def test_rows(manifest: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    rows = manifest[manifest["split"] == params["split"]].reset_index(drop=True)
    if params["limit"]:
        rows = rows.groupby("source", group_keys=False).head(int(params["limit"]))
    if rows.empty:
        raise BgbyeError(f"no {params['split']!r} rows in the manifest to evaluate",
                         code="bad_training_data", http_status=422)
    return rows.reset_index(drop=True)


def evaluate_models(manifest: pd.DataFrame, exported: dict[str, Any], params: dict[str, Any]
                    ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score every model on the test split: per source and overall. Returns (metrics, per image);
    the trained model's scores also go into its published spec (``metrics.test``)."""
    settings = make_settings(params, exported)
    cache = EngineCache(settings)
    rows = test_rows(manifest, params)
    pairs = [load_pair(row) for _, row in rows.iterrows()]
    models: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    per_image: list[dict[str, Any]] = []
    for ref in model_refs(params, exported, settings):
        try:
            remover = Remover(cache.get(ref), settings)
        except BgbyeError as exc:
            log.warning("baseline %s skipped: %s", ref, exc.message)
            skipped[ref] = exc.message
            continue
        name = remover.engine.name
        groups: dict[str, GroupScores] = {OVERALL: GroupScores()}
        start = time.perf_counter()
        for (_, row), (rgb, gt) in zip(rows.iterrows(), pairs, strict=True):
            pred = remover.remove_array(rgb)
            soft = str(row.get("mask_kind", "binary")) == "soft"
            for key in (OVERALL, str(row["source"])):
                groups.setdefault(key, GroupScores()).step(pred, gt, soft)
            per_image.append({"model": name, "id": row["id"], "source": row["source"],
                              "mae": image_mae(pred, gt)})
        seconds = time.perf_counter() - start
        models[name] = {
            "ref": ref,
            "label": remover.engine.label,
            "trained": ref == str(exported["onnx_path"]),
            "seconds_per_image": seconds / len(pairs),
            OVERALL: groups.pop(OVERALL).results(),
            "per_source": {src: g.results() for src, g in sorted(groups.items())},
        }
        log.info("%s: MAE %.4f over %d test images (%.2f s/image)", name,
                 models[name][OVERALL]["mae"], len(pairs), seconds / len(pairs))
    metrics = {
        "split": params["split"],
        "n_images": len(pairs),
        "sources": sorted(str(s) for s in rows["source"].unique()),
        "trained_model": exported["name"],
        "models": models,
        "skipped": skipped,
        "comparison": _comparison(models, exported["name"], str(params["reference"])),
        "domains": _domains(models, exported, str(params["reference"])),
    }
    publish_test_metrics(metrics, exported)
    return metrics, pd.DataFrame(per_image)


def _domains(models: dict[str, Any], exported: dict[str, Any], reference: str
             ) -> dict[str, Any]:
    """Per source: did the run train on it, and the trained model's MAE against the reference's
    (``change`` = ours / theirs - 1). Sources it did not train on show forgetting."""
    trained, domain = exported["name"], trained_on(exported)
    if trained not in models or reference not in models:
        return {}
    out = {}
    for source, ours in models[trained]["per_source"].items():
        theirs = models[reference]["per_source"].get(source)
        if not theirs:
            continue
        out[source] = {"trained_on": source in domain, "n": ours["n"], "mae": ours["mae"],
                       "reference_mae": theirs["mae"],
                       "change": ours["mae"] / theirs["mae"] - 1 if theirs["mae"] else None}
    return out


def _comparison(models: dict[str, Any], trained: str, reference: str) -> dict[str, Any]:
    if trained not in models or reference not in models:
        return {"reference": reference, "available": False}
    ours, theirs = models[trained][OVERALL]["mae"], models[reference][OVERALL]["mae"]
    return {"reference": reference, "available": True, "trained_mae": ours,
            "reference_mae": theirs, "beats_reference": ours < theirs,
            "mae_delta": ours - theirs, "mae_ratio": ours / theirs if theirs else None}


# -- pictures ---------------------------------------------------------------------------------

def _checker(h: int, w: int, cell: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    light = ((yy // cell + xx // cell) % 2 == 0)[..., None]
    return np.where(light, 235, 200).astype(np.uint8).repeat(3, axis=2)


def _fit(img: np.ndarray, height: int) -> Image.Image:
    pil = Image.fromarray(img)
    width = max(1, round(pil.width * height / pil.height))
    return pil.resize((width, height), Image.Resampling.LANCZOS)


def _cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    bg = _checker(*alpha.shape)
    return (rgb * a + bg * (1 - a)).round().astype(np.uint8)


def _grid(rows: list[list[np.ndarray]], titles: list[str], height: int,
          captions: list[str] | None = None) -> Image.Image:
    """Rows of panels scaled to one height, with column titles and an optional caption per row."""
    header, pad = 18, 4
    scaled = [[_fit(p if p.ndim == 3 else np.dstack([p] * 3), height) for p in row] for row in rows]
    col_w = [max(row[i].width for row in scaled) for i in range(len(titles))]
    cap_h = 16 if captions else 0
    width = sum(col_w) + pad * (len(titles) + 1)
    total_h = header + len(rows) * (height + cap_h + pad) + pad
    canvas = Image.new("RGB", (width, total_h), "white")
    draw = ImageDraw.Draw(canvas)
    x = pad
    for title, w in zip(titles, col_w, strict=True):
        draw.text((x + 2, 3), title, fill="black")
        x += w + pad
    y = header
    for r, row in enumerate(scaled):
        if captions:
            draw.text((pad + 2, y + 1), captions[r], fill="black")
        x = pad
        for panel, w in zip(row, col_w, strict=True):
            canvas.paste(panel, (x, y + cap_h))
            x += w + pad
        y += height + cap_h + pad
    return canvas


def render_previews(manifest: pd.DataFrame, exported: dict[str, Any], scores: pd.DataFrame,
                    params: dict[str, Any]) -> tuple[Image.Image, Image.Image]:
    """``[Image | Pred Mask | BG Removed]`` rows for a few test images per source, and a grid of
    the trained model's worst cases ``[Image | Ground truth | Prediction | BG Removed]``."""
    settings = make_settings(params, exported)
    remover = Remover(EngineCache(settings).get(str(exported["onnx_path"])), settings)
    rows = test_rows(manifest, params)
    height = int(params["preview_height"])
    per_source = int(params["preview_per_source"])
    sample = rows.groupby("source", group_keys=False).head(per_source)
    panels, captions = [], []
    for _, row in sample.iterrows():
        rgb, _ = load_pair(row)
        alpha = remover.remove_array(rgb)
        panels.append([rgb, alpha, _cutout(rgb, alpha)])
        captions.append(str(row["id"]))
    preview = _grid(panels, ["Image", "Pred Mask", "BG Removed"], height, captions)

    ours = scores[scores["model"] == exported["name"]].sort_values("mae", ascending=False)
    worst = ours.head(int(params["worst_cases"]))
    by_id = rows.set_index("id")
    panels, captions = [], []
    for _, item in worst.iterrows():
        rgb, gt = load_pair(by_id.loc[item["id"]])
        alpha = remover.remove_array(rgb)
        panels.append([rgb, gt, alpha, _cutout(rgb, alpha)])
        captions.append(f"{item['id']}  MAE {item['mae']:.3f}")
    worst_grid = _grid(panels, ["Image", "Ground truth", "Prediction", "BG Removed"], height,
                       captions)
    return preview, worst_grid


def plot_training_curves(history: pd.DataFrame) -> Any:
    """Loss, validation MAE/IoU and learning rate per epoch (a matplotlib figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    if history.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no epochs", ha="center", va="center")
        return fig
    ep = history["epoch"]
    axes[0].plot(ep, history["train_loss"], marker="o", label="train loss")
    axes[0].plot(ep, history["val_loss"], marker="o", label="val loss")
    axes[0].set_title("loss")
    calibrated = "val_mae_raw" in history
    axes[1].plot(ep, history["val_mae"], marker="o", color="tab:red",
                 label="val MAE (calibrated)" if calibrated else "val MAE")
    if calibrated:  # fit.calibrate: the served MAE without the calibration, for comparison
        axes[1].plot(ep, history["val_mae_raw"], marker=".", ls="--", color="tab:orange",
                     label="val MAE, uncalibrated")
    axes[1].set_title("validation MAE (lower is better)")
    ax_iou = axes[1].twinx()
    ax_iou.plot(ep, history["val_iou"], marker="s", color="tab:green", label="val IoU@0.5")
    ax_iou.set_ylabel("IoU")
    axes[2].plot(ep, history["lr"], marker=".", label="lr")
    axes[2].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def _fmt(value: Any, digits: int = 4) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else (
        f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _table(models: dict[str, Any], key: str | None, trained: str) -> list[str]:
    cols = ["mae", "max_fbeta", "s_measure", "e_measure", "iou"]
    heads = ["MAE ↓", "max Fβ ↑", "S ↑", "E ↑", "IoU@0.5 ↑"]
    soft = any("sad" in (m[OVERALL] if key is None else m["per_source"].get(key, {}))
               for m in models.values())
    if soft:
        cols += ["sad", "mse", "grad", "conn"]
        heads += ["SAD ↓", "MSE ↓", "Grad ↓", "Conn ↓"]
    lines = ["| model | n | " + " | ".join(heads) + " | s/image |",
             "|---|---|" + "---|" * len(heads) + "---|"]
    for name, m in models.items():
        res = m[OVERALL] if key is None else m["per_source"].get(key)
        if not res:
            continue
        label = f"**{name}** (trained)" if name == trained else name
        lines.append(f"| {label} | {res['n']} | " + " | ".join(_fmt(res.get(c)) for c in cols)
                     + f" | {m['seconds_per_image']:.3f} |")
    return lines


def _domain_lines(metrics: dict[str, Any], trained: str) -> list[str]:
    domains = metrics.get("domains") or {}
    if not domains:
        return []
    ref = metrics["comparison"]["reference"]
    lines = ["## In domain and held out", "",
             f"MAE per source, {trained} against {ref}; *held out* = the run did not train on "
             "that source (forgetting shows there).", "",
             f"| source | role | n | {trained} | {ref} | change |", "|---|---|---|---|---|---|"]
    for source, d in domains.items():
        role = "trained on" if d["trained_on"] else "*held out*"
        change = "–" if d["change"] is None else f"{d['change'] * 100:+.1f} %"
        lines.append(f"| {source} | {role} | {d['n']} | {d['mae']:.4f} | "
                     f"{d['reference_mae']:.4f} | {change} |")
    return [*lines, ""]


def write_report(metrics: dict[str, Any], summary: dict[str, Any], history: pd.DataFrame,
                 exported: dict[str, Any]) -> str:
    """The Markdown evaluation report (pictures are beside it in data/08_reporting/)."""
    trained = metrics["trained_model"]
    cmp_ = metrics["comparison"]
    lines = [f"# Evaluation: {trained}", "",
             f"Test split: {metrics['n_images']} images from {', '.join(metrics['sources'])}. "
             "Every model runs through `bgbye.remover.Remover` on the original images (what is "
             "scored is what is served). Metrics from pysodmetrics (max Fβ with β²=0.3, mean "
             "E-measure, IoU at 0.5); SAD/MSE/Grad/Conn on soft ground truth only.", ""]
    if cmp_.get("available"):
        verdict = "beats" if cmp_["beats_reference"] else "does not beat"
        lines += [f"**{trained} {verdict} {cmp_['reference']}** on MAE: "
                  f"{cmp_['trained_mae']:.4f} vs {cmp_['reference_mae']:.4f} "
                  f"({cmp_['mae_delta']:+.4f}).", ""]
    lines += _domain_lines(metrics, trained)
    lines += ["## Overall", "", *_table(metrics["models"], None, trained), ""]
    lines += ["## Per source", ""]
    for src in metrics["sources"]:
        lines += [f"### {src}", "", *_table(metrics["models"], src, trained), ""]
    if metrics.get("skipped"):
        lines += ["Skipped baselines: " + "; ".join(f"`{k}`: {v}"
                                                     for k, v in metrics["skipped"].items()), ""]
    lines += ["## Training", "",
              f"- model: {summary.get('init')} ({summary.get('parameters_m')} M parameters), "
              f"input {summary.get('image_size')} px, device {summary.get('device')}",
              f"- epochs run: {summary.get('epochs_run')} (stop: {summary.get('stop_reason')}), "
              f"best epoch {summary.get('best_epoch')}, training time "
              f"{summary.get('train_seconds', 0) / 60:.1f} min",
              f"- pairs: {summary.get('pairs')}",
              f"- exported: `{exported['onnx_path']}` ({exported['bytes'] / 1e6:.1f} MB), ONNX "
              f"Runtime vs torch max abs diff {exported['parity_max_abs_diff']:.1e}", ""]
    if not history.empty:
        last = history.iloc[-1]
        lines += [f"- last epoch: train loss {last['train_loss']:.4f}, val loss "
                  f"{last['val_loss']:.4f}, val MAE {last['val_mae']:.4f}, "
                  f"{last['images_per_s']:.1f} images/s", ""]
    lines += ["![training curves](training_curves.png)", "",
              "## Pictures", "", "![qualitative preview](qualitative_preview.png)", "",
              "Worst cases of the trained model:", "", "![worst cases](worst_cases.png)", ""]
    return "\n".join(lines)
