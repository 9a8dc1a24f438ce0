"""Output calibration: one logit scale and shift, fitted on validation, baked into the export.

u2netp is served as ``minmax(sigmoid(z))``. Its low, non-zero background (and the one that
fine-tuning raises) is what min-max stretches into grey, and it dominates MAE. A temperature
and bias on the fused logit, ``sigmoid(scale * z + shift)``, sharpens that floor away without
touching the shapes. The pair is chosen on the validation pairs by the *served* MAE (min-max
included), so it optimises exactly what users get; it is two numbers, so fitting them on the
validation pairs does not overfit them the way weights would. The export multiplies and adds
in the graph, and the ModelSpec stays u2netp's (``prob``, ``minmax``). The identity pair adds
no operation, so a run with calibration off still serves byte-identical stock alpha.
"""

from __future__ import annotations

import math

import torch

from bgbye_pipelines.ml.served import IDENTITY, Calibration, Normalize

# Coarse grid, then a finer one around its best point. Scales are geometric (a temperature).
_SCALES = torch.logspace(math.log10(0.5), math.log10(16.0), 31).tolist()
_SHIFTS = torch.linspace(-8.0, 4.0, 49).tolist()
_EPS = 1e-6  # served.minmax's floor (bgbye.engines.preprocess.decode_output's)


def _grid_mae(z: torch.Tensor, y: torch.Tensor, zlo: torch.Tensor, zhi: torch.Tensor,
              scale: float, shifts: torch.Tensor, normalize: Normalize) -> torch.Tensor:
    """Mean served MAE over images for one scale and every shift: (S,). ``z``/``y`` are
    (N, K) pixel samples; ``zlo``/``zhi`` each image's exact logit extremes (min-max is
    monotone in z, so the extremes of the served map are those of z, calibrated)."""
    b = shifts.view(-1, 1, 1)
    prob = torch.sigmoid(z * scale + b)
    if normalize == "minmax":
        lo = torch.sigmoid(zlo.view(1, -1, 1) * scale + b)
        hi = torch.sigmoid(zhi.view(1, -1, 1) * scale + b)
        prob = (prob - lo) / (hi - lo).clamp_min(_EPS)
    return (prob - y).abs().mean(2).mean(1)


def fit_calibration(logits: torch.Tensor, targets: torch.Tensor, normalize: Normalize, *,
                    sample: int = 8192, seed: int = 0) -> Calibration:
    """The (scale, shift) with the lowest served MAE over ``logits``/``targets`` (N,1,H,W),
    searched on a fixed random sample of ``sample`` pixels per image (deterministic)."""
    logits, targets = logits.float().flatten(1), targets.float().flatten(1)
    n, pixels = logits.shape
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, pixels, (n, min(sample, pixels)), generator=gen)
    z, y = logits.gather(1, idx), targets.gather(1, idx)
    zlo, zhi = logits.amin(1), logits.amax(1)

    def search(scales: list[float], shifts: list[float]) -> tuple[float, float, float]:
        best = (math.inf, 1.0, 0.0)
        shift_t = torch.tensor(shifts)
        for a in scales:
            maes = _grid_mae(z, y, zlo, zhi, a, shift_t, normalize)
            i = int(maes.argmin())
            if float(maes[i]) < best[0]:
                best = (float(maes[i]), a, shifts[i])
        return best

    with torch.no_grad():
        identity = float(_grid_mae(z, y, zlo, zhi, 1.0, torch.zeros(1), normalize)[0])
        _, a, b = search(_SCALES, _SHIFTS)
        fine_scales = [a * f for f in torch.logspace(-0.1, 0.1, 11).tolist()]
        fine_shifts = [b + d for d in torch.linspace(-0.25, 0.25, 11).tolist()]
        mae, a, b = search(fine_scales, fine_shifts)
    if mae >= identity:  # nothing beats serving the logits as they are
        return IDENTITY
    return Calibration(round(a, 4), round(b, 4))
