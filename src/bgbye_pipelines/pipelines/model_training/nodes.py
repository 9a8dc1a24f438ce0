"""Nodes of model_training. Parameters: ``conf/<env>/parameters_model_training.yml``.

``train_model`` is resumable: checkpoints live in ``<checkpoint_dir>/<name>/`` and a rerun with
the same configuration and data continues where the last one stopped (see ``ml.fit``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bgbye.models.fetch import sha256_file

log = logging.getLogger(__name__)

# Fit settings that change how long a run lasts, not what it computes: a resumed run may differ.
_LENGTH_ONLY = {"epochs", "patience", "max_minutes", "progress", "num_workers", "threads", "device"}
_DEFINING = ("name", "image_size", "model", "loss", "augment", "limit", "sources",
             "general_images")


def run_fingerprint(manifest: pd.DataFrame, params: dict[str, Any]) -> str:
    """Hash of the data and every parameter that defines the run, except its length."""
    fit = {k: v for k, v in dict(params["fit"]).items() if k not in _LENGTH_ONLY}
    keyed = {k: params.get(k) for k in _DEFINING}
    rows = manifest[manifest["split"].isin(["train", "val"])]
    hash_col = "sha256" if "sha256" in rows.columns else "id"
    data = sorted(zip(rows["id"].astype(str), rows["split"].astype(str),
                      rows[hash_col].astype(str), strict=True))
    blob = json.dumps({"params": keyed, "fit": fit, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _datasets(manifest: pd.DataFrame, params: dict[str, Any], built: Any) -> tuple[Any, Any]:
    from bgbye_pipelines.ml.data import AugmentConfig, build_datasets

    limit = params["limit"] or {}
    return build_datasets(
        manifest, _size(params, built), AugmentConfig.from_params(params["augment"]),
        _normalization(built), limit=(limit.get("train"), limit.get("val")),
        sources=params["sources"], resample=built.resample, from_original=built.from_original,
    )


def _size(params: dict[str, Any], built: Any) -> int:
    return int(built.fixed_size or params["image_size"])


def _normalization(built: Any) -> Any:
    from bgbye_pipelines.ml.data import Normalization

    return Normalization(mean=built.mean, std=built.std, scale=built.scale)


def _guard(manifest: pd.DataFrame, params: dict[str, Any], built: Any, checkpoint_dir: Path,
           fingerprint: str, finished: bool) -> tuple[Any, dict[str, Any] | None]:
    """The forgetting guard (its targets from the model as built, before any step; cached
    beside the checkpoints) and its description; no guard is built for a finished run."""
    from bgbye_pipelines.ml.guard import Guard, GuardConfig, image_paths

    cfg = GuardConfig.from_params(params["general_images"])
    if cfg is None:
        return None, None
    paths = image_paths(cfg, manifest)
    info = {"count": len(paths), "sources": cfg.sources, "dir": cfg.dir, "split": cfg.split,
            "per_step": cfg.per_step, "weight": cfg.weight}
    if finished:
        return None, info
    hflip = float(params["augment"]["hflip"])
    guard = Guard.build(cfg, paths, built.module, _size(params, built), built.resample,
                        _normalization(built), built.normalize, hflip,
                        cache=checkpoint_dir / "guard_targets.pt", key=f"{fingerprint}:per-output")
    return guard, info


def train_model(manifest: pd.DataFrame, params: dict[str, Any]
                ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Train (or resume); the per-epoch history, a summary for export/report, and the best
    weights (a state dict: the ``model_checkpoint`` dataset)."""
    import torch

    from bgbye_pipelines.ml.fit import FitConfig, fit, is_finished, seed_everything
    from bgbye_pipelines.ml.losses import build_loss
    from bgbye_pipelines.ml.model import build_model, count_parameters

    name = str(params["name"])
    cfg = FitConfig.from_params(dict(params["fit"]))
    seed_everything(cfg.seed)  # same initial weights (decoder init) on every fresh start
    built = build_model(dict(params["model"]))
    train_ds, val_ds = _datasets(manifest, params, built)
    checkpoint_dir = Path(params["checkpoint_dir"]) / name
    fingerprint = run_fingerprint(manifest, params)
    if not params["resume"]:
        (checkpoint_dir / "last.pt").unlink(missing_ok=True)
    guard, guard_info = _guard(manifest, params, built, checkpoint_dir, fingerprint,
                               is_finished(checkpoint_dir, fingerprint, cfg))
    log.info("%s: %s, %.1fM parameters, input %dpx, run %s", name, built.init,
             count_parameters(built.module) / 1e6, train_ds.size, fingerprint)
    result = fit(built.module, build_loss(params["loss"], built.normalize), train_ds, val_ds,
                 cfg, checkpoint_dir, fingerprint=fingerprint, name=name,
                 normalize=built.normalize, guard=guard)
    history = pd.DataFrame(result.history)
    best = torch.load(result.best_path, map_location="cpu", weights_only=True)["model"]
    return history, _summary(manifest, params, built, result, train_ds, val_ds, fingerprint,
                             cfg.monitor, guard_info), best


def _summary(manifest: pd.DataFrame, params: dict[str, Any], built: Any, result: Any,
             train_ds: Any, val_ds: Any, fingerprint: str, monitor: str,
             guard_info: dict[str, Any] | None) -> dict[str, Any]:
    from bgbye_pipelines.ml.model import count_parameters

    counts = (manifest.groupby(["source", "split"]).size().unstack(fill_value=0)
              .to_dict(orient="index"))
    summary = {
        "name": str(params["name"]),
        "fingerprint": fingerprint,
        "init": built.init,
        "encoder": built.encoder,
        "parameters_m": round(count_parameters(built.module) / 1e6, 3),
        "image_size": train_ds.size,
        "best_checkpoint": str(result.best_path),
        "best_epoch": result.best_epoch,
        "best_score": result.best_score if math.isfinite(result.best_score) else None,
        "monitor": monitor,
        "stop_reason": result.stop_reason,
        "epochs_run": sum(1 for r in result.history if r["epoch"] > 0),
        "images_seen": int(sum(r.get("images", 0) for r in result.history)),
        "device": result.device,
        "resumed_from": result.resumed_from,
        "train_seconds": round(result.train_seconds, 1),
        "training_sources": sorted(set(train_ds.sources)),
        "general_images": guard_info,
        "pairs": {"train": len(train_ds), "val": len(val_ds)},
        "data": {str(k): {str(s): int(n) for s, n in v.items()} for k, v in counts.items()},
    }
    from bgbye_pipelines.ml.fit import row_calibration

    best = next((row for row in result.history if row["epoch"] == result.best_epoch), None)
    if best:
        summary["val_metrics"] = {k: round(float(best[k]), 5)
                                  for k in ("val_loss", "val_mae", "val_iou", "val_mae_raw")
                                  if k in best}
    # the best epoch's output calibration (identity unless fit.calibrate): export bakes it in
    summary["calibration"] = row_calibration(best).as_dict()
    return summary


def export_model(manifest: pd.DataFrame, summary: dict[str, Any], best: dict[str, Any],
                 params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Best weights -> ONNX + ModelSpec, checked against torch, published as
    ``<output_dir>/<name>.onnx`` + ``<name>.json``; returns (a summary, the model files for the
    versioned ``trained_model`` dataset)."""
    from bgbye_pipelines.ml.export import blend_with_start, build_spec, check_parity, export_onnx
    from bgbye_pipelines.ml.model import build_model, keep_first_output
    from bgbye_pipelines.ml.served import Calibration, ServingHead

    name = str(params["name"])
    export_params = dict(params["export"])
    built = build_model(dict(params["model"]))
    blend = float(export_params.get("blend_with_start", 1.0))
    if blend != 1.0:
        best = blend_with_start(best, built, blend)
    built.module.load_state_dict(best)
    calibration = Calibration.from_dict(summary.get("calibration"))
    blend_val: dict[str, float] = {}
    if blend != 1.0 and not calibration.identity:
        # the best epoch's calibration belongs to the unblended weights: refit it for these
        calibration, blend_val = _recalibrate(manifest, params, built)
    head = ServingHead(keep_first_output(built.module), built.export_kind, calibration)
    size = int(summary["image_size"])
    dynamic_size = built.fixed_size is None and bool(export_params["dynamic_size"])
    out_dir = Path(params["output_dir"])
    onnx_path = out_dir / f"{name}.onnx"
    export_onnx(head, onnx_path, size, dynamic_size=dynamic_size, opset=int(export_params["opset"]))
    sizes = [size, size + 64] if dynamic_size else [size]
    diff = check_parity(head, onnx_path, sizes, float(export_params["parity_tolerance"]))
    spec = build_spec(
        name=name, size=size, built=built, dynamic_batch=True,
        description=f"{built.init} fine-tuned by bgbye's model_training pipeline",
        license=str(params["license"]),
        source=f"kedro run (model_training), run {summary['fingerprint']}",
        training_data={"sources": summary["training_sources"],
                       "general_images": summary["general_images"], "pairs": summary["pairs"],
                       "images_seen": summary["images_seen"],
                       "per_source_split": summary["data"]},
        metrics={"validation": summary.get("val_metrics", {}), "best_epoch": summary["best_epoch"],
                 "epochs_run": summary["epochs_run"], "stop_reason": summary["stop_reason"],
                 "blend_with_start": blend, "calibration": calibration.as_dict(),
                 **({"validation_blended": blend_val} if blend_val else {})},
        extra={"sha256": sha256_file(onnx_path), "file": onnx_path.name,
               "parameters": {k: params[k] for k in ("model", "loss", "augment", "fit")}
               | {"image_size": size}},
    )
    spec_path = onnx_path.with_suffix(".json")
    spec.dump(spec_path)
    log.info("exported %s (%.1f MB), spec %s", onnx_path, onnx_path.stat().st_size / 1e6, spec_path)
    result: dict[str, Any] = {
        "name": name, "onnx_path": str(onnx_path), "spec_path": str(spec_path),
        "bytes": onnx_path.stat().st_size, "parity_max_abs_diff": diff,
        "dynamic_size": dynamic_size, "image_size": size,
        "training_sources": summary["training_sources"]}
    if export_params["fp16_copy"]:
        result["fp16"] = _fp16_copy(onnx_path, spec, size)
    files = {"name": name, "onnx": onnx_path.read_bytes(),
             "spec": spec_path.read_text(encoding="utf-8")}
    return result, files


def _recalibrate(manifest: pd.DataFrame, params: dict[str, Any], built: Any
                 ) -> tuple[Any, dict[str, float]]:
    """The output calibration of ``built`` as loaded (e.g. a blend), fitted on the run's
    validation pairs as training does; with the validation scores of the result."""
    from torch.utils.data import DataLoader

    from bgbye_pipelines.ml.fit import FitConfig, evaluate, resolve_device, row_calibration
    from bgbye_pipelines.ml.losses import build_loss

    cfg = FitConfig.from_params(dict(params["fit"]))
    _, val_ds = _datasets(manifest, params, built)
    loader = DataLoader(val_ds, batch_size=cfg.batch_size)
    device = resolve_device(cfg.device)
    built.module.to(device)
    row = evaluate(built.module, loader, build_loss(params["loss"], built.normalize), device,
                   device.type == "cuda", built.normalize, calibrate=True)
    built.module.cpu()
    log.info("blended weights recalibrated on %d validation pairs: %s, val MAE %.5f "
             "(uncalibrated %.5f)", len(val_ds), row_calibration(row), row["val_mae"],
             row["val_mae_raw"])
    return row_calibration(row), {k: round(float(row[k]), 5) for k in
                                  ("val_mae", "val_mae_raw", "val_iou")}


def _fp16_copy(onnx_path: Path, spec: Any, size: int) -> dict[str, Any]:
    """Half-size copy (fp16 weights, fp32 compute); evaluation scores it beside the original."""
    from bgbye_pipelines.ml.export import compress_fp16_weights, ort_diff

    half_path = onnx_path.with_name(f"{spec.name}-fp16.onnx")
    compress_fp16_weights(onnx_path, half_path)
    half_spec = spec.model_copy(update={
        "name": f"{spec.name}-fp16", "file": half_path.name, "sha256": sha256_file(half_path),
        "description": spec.description + "; weights stored as float16"})
    half_spec.dump(half_path.with_suffix(".json"))
    log.info("fp16 copy %s (%.1f MB)", half_path, half_path.stat().st_size / 1e6)
    return {"onnx_path": str(half_path), "bytes": half_path.stat().st_size,
            "max_abs_diff_vs_fp32": ort_diff(onnx_path, half_path, size)}
