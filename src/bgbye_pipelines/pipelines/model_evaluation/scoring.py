"""Scoring with pysodmetrics: one accumulator set per (model, group), groups = sources + overall."""

from __future__ import annotations

from typing import Any

import numpy as np
import py_sod_metrics as sod

from bgbye_pipelines.pipelines.model_evaluation.matting import matting_errors

SOD_KEYS = ("mae", "max_fbeta", "s_measure", "e_measure", "iou")
MATTING_KEYS = ("sad", "mse", "grad", "conn")


class GroupScores:
    """pysodmetrics accumulators for one group of images (one source, or all of them)."""

    def __init__(self) -> None:
        self.mae = sod.MAE()
        self.sm = sod.Smeasure()
        self.em = sod.Emeasure()
        self.fm = sod.FmeasureV2({
            "fm": sod.FmeasureHandler(with_dynamic=True, with_adaptive=False, beta=0.3),
            "iou": sod.IOUHandler(with_dynamic=False, with_adaptive=False, with_binary=True,
                                  sample_based=True),
        })
        self.matting: list[dict[str, float]] = []
        self.count = 0

    def step(self, pred: np.ndarray, gt: np.ndarray, soft: bool) -> None:
        for metric in (self.mae, self.sm, self.em, self.fm):
            metric.step(pred=pred, gt=gt)
        if soft:
            self.matting.append(matting_errors(pred, gt))
        self.count += 1

    def results(self) -> dict[str, Any]:
        fm = self.fm.get_results()
        out: dict[str, Any] = {
            "n": self.count,
            "mae": float(self.mae.get_results()["mae"]),
            "max_fbeta": float(np.max(fm["fm"]["dynamic"])),
            "s_measure": float(self.sm.get_results()["sm"]),
            "e_measure": float(np.mean(self.em.get_results()["em"]["curve"])),
            "iou": float(fm["iou"]["binary"]),
        }
        if self.matting:
            out["n_soft"] = len(self.matting)
            for key in MATTING_KEYS:
                out[key] = float(np.mean([m[key] for m in self.matting]))
        return out


def image_mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """One image's MAE, through pysodmetrics as the table is (for ranking worst cases)."""
    metric = sod.MAE()
    metric.step(pred=pred, gt=gt)
    return float(metric.get_results()["mae"])
