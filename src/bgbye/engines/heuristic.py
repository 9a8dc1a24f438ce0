"""The fallback when no model file is there: OpenCV GrabCut seeded by a centre rectangle.

It is labelled as a heuristic in every output so nobody mistakes it for a trained model.
"""

from __future__ import annotations

import cv2
import numpy as np

from bgbye.engines.base import Prediction

WORK_SIDE = 256  # GrabCut is O(pixels x iterations); a small working copy keeps it ~100 ms


class HeuristicEngine:
    name = "heuristic"
    label = "heuristic (OpenCV GrabCut fallback, not a trained model)"

    def __init__(self, iterations: int = 4, margin: float = 0.06):
        self.iterations = iterations
        self.margin = margin

    def predict(self, rgb: np.ndarray, *, source: bytes | None = None) -> Prediction:
        h, w = rgb.shape[:2]
        scale = min(1.0, WORK_SIDE / max(h, w))
        small = cv2.resize(
            rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        sh, sw = small.shape[:2]
        alpha_small = np.zeros((sh, sw), np.uint8)
        if sh >= 8 and sw >= 8:
            mx, my = max(1, int(sw * self.margin)), max(1, int(sh * self.margin))
            rect = (mx, my, sw - 2 * mx, sh - 2 * my)
            mask = np.zeros((sh, sw), np.uint8)
            bgd = np.zeros((1, 65), np.float64)
            fgd = np.zeros((1, 65), np.float64)
            try:
                cv2.grabCut(
                    cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                    mask,
                    rect,
                    bgd,
                    fgd,
                    self.iterations,
                    cv2.GC_INIT_WITH_RECT,
                )
                fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
                alpha_small = np.where(fg, 255, 0).astype(np.uint8)
            except cv2.error:
                alpha_small[:] = 255  # a flat image has no model to fit; keep everything
        else:
            alpha_small[:] = 255
        alpha_small = cv2.GaussianBlur(alpha_small, (3, 3), 0)
        alpha = cv2.resize(alpha_small, (w, h), interpolation=cv2.INTER_LINEAR)
        return Prediction(alpha=alpha, info={"engine": self.name, "heuristic": True})
