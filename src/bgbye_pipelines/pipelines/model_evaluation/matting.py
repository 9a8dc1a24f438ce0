"""Alpha-matting errors for soft ground truth: SAD, MSE, Grad, Conn.

pysodmetrics 1.6.2 (the project's metric library) has no matting errors, so these follow the
reference definitions of Rhemann et al. (CVPR 2009) as used by the Deep Image Matting
evaluation code: alpha in 0..1; SAD in thousands, MSE plain, Grad with Gaussian first-derivative
filters (sigma 1.4) in thousands, Conn with threshold step 0.1 in thousands. They are computed
over the whole image (no trimap: background removal is judged everywhere).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import label


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a / 255.0 if a.max(initial=0) > 1.0 else a


def sad(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(np.abs(_unit(pred) - _unit(gt)).sum() / 1000.0)


def mse(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(((_unit(pred) - _unit(gt)) ** 2).mean())


def grad(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4) -> float:
    def magnitude(a: np.ndarray) -> np.ndarray:
        gx = ndimage.gaussian_filter(a, sigma, order=(0, 1))
        gy = ndimage.gaussian_filter(a, sigma, order=(1, 0))
        return np.sqrt(gx**2 + gy**2)

    return float(((magnitude(_unit(pred)) - magnitude(_unit(gt))) ** 2).sum() / 1000.0)


def conn(pred: np.ndarray, gt: np.ndarray, step: float = 0.1) -> float:
    p, g = _unit(pred), _unit(gt)
    thresholds = np.arange(0.0, 1.0 + step, step)
    l_map = np.full(p.shape, -1.0)
    for t in thresholds[1:]:
        both = (p >= t) & (g >= t)
        labels = label(both, connectivity=1)
        if labels.max() == 0:
            omega = np.zeros_like(both)
        else:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            omega = labels == int(sizes.argmax())
        flip = (l_map == -1) & ~omega
        l_map[flip] = t - step
    l_map[l_map == -1] = 1.0
    d_pred, d_gt = p - l_map, g - l_map
    phi_pred = 1 - d_pred * (d_pred >= 0.15)
    phi_gt = 1 - d_gt * (d_gt >= 0.15)
    return float(np.abs(phi_pred - phi_gt).sum() / 1000.0)


def matting_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    return {"sad": sad(pred, gt), "mse": mse(pred, gt), "grad": grad(pred, gt),
            "conn": conn(pred, gt)}
