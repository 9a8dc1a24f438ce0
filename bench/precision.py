"""Runtimes and precisions of one model: quality on the test split against fp32, and speed.

Every variant is scored as served (through bgbye.Remover) on the test split of
../shared/data/real (the split `kedro run --env shared` assigns), with pysodmetrics as the
pipelines score, against the ground truth and against ONNX Runtime fp32's own alpha. Speed is
inference alone on the 320x320 input, variants alternating, medians.

With ``--quantize`` (or when the int8 variant is missing) the int8 variant is made first,
calibrated on ``--calibration`` training images; ``--write`` stores the measured delta of the
int8 variant in its spec (``metrics.vs_fp32``), as ``bgbye models list`` reports it.

    .venv/bin/python bench/precision.py [--model u2netp] [--limit 0] [--quantize] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _split import pairs


def load_pair(image: Path, mask: Path) -> tuple[np.ndarray, np.ndarray]:
    from bgbye.imageio import read_rgb

    rgb = read_rgb(str(image))
    with Image.open(mask) as mk:
        gt = mk.convert("L")
        if gt.size != (rgb.shape[1], rgb.shape[0]):
            gt = gt.resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.BILINEAR)
        return rgb, np.asarray(gt, dtype=np.uint8)


def variants() -> list[tuple[str, str]]:
    from bgbye.engines.runtime import openvino_installed

    out = [("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    if openvino_installed():
        out += [("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="u2netp")
    ap.add_argument("--limit", type=int, default=0, help="test images (0: the whole split)")
    ap.add_argument("--calibration", type=int, default=64, help="training images for int8")
    ap.add_argument("--quantize", action="store_true", help="(re)make the int8 variant")
    ap.add_argument("--method", default="minmax", choices=["minmax", "percentile", "entropy"])
    ap.add_argument("--write", action="store_true", help="store the int8 delta in its spec")
    ap.add_argument("--runs", type=int, default=9, help="timed inferences per variant")
    args = ap.parse_args()

    from bgbye.engines import EngineCache, OnnxEngine
    from bgbye.engines.onnx import preprocess
    from bgbye.engines.quantize import quantize_int8, record_quality
    from bgbye.engines.variants import variant_name
    from bgbye.imageio import read_rgb
    from bgbye.settings import get_settings
    from bgbye_pipelines.pipelines.model_evaluation.scoring import GroupScores

    settings = get_settings()
    cores = os.cpu_count() or 1
    base = EngineCache(settings).registry.resolve(args.model)
    assert base.path is not None
    int8_path = base.path.with_name(variant_name(args.model, "int8") + ".onnx")
    if args.quantize or not int8_path.is_file():
        train = pairs("train")
        pick = np.random.default_rng(0).choice(len(train), args.calibration, replace=False)
        start = time.perf_counter()
        quantize_int8(
            base,
            (read_rgb(str(train[i][0])) for i in sorted(pick)),
            calibration_note=f"{args.calibration} random train-split images of "
            f"../shared/data/real (seed 0), {args.method}, per-channel QDQ",
            method=args.method,
        )
        print(f"quantized in {time.perf_counter() - start:.0f}s -> {int8_path}")

    test = pairs("test")
    if args.limit:
        test = test[: args.limit]
    data = [load_pair(i, m) for i, m in test]
    engines: dict[tuple[str, str], OnnxEngine] = {}
    for runtime, precision in variants():
        engine = EngineCache(settings, threads=cores, runtime=runtime, precision=precision).get(
            args.model
        )
        assert isinstance(engine, OnnxEngine)
        engines[(runtime, precision)] = engine

    # Quality, as served.
    alphas: dict[tuple[str, str], list[np.ndarray]] = {}
    scores: dict[tuple[str, str], dict[str, float]] = {}
    for key, engine in engines.items():
        group = GroupScores()
        alphas[key] = []
        for rgb, gt in data:
            alpha = engine.predict(rgb).alpha
            alphas[key].append(alpha)
            group.step(alpha, gt, soft=False)
        scores[key] = group.results()

    # Speed: inference alone, alternating variants, median ms.
    x = preprocess(engines[("onnxruntime", "fp32")].spec, data[0][0])
    times: dict[tuple[str, str], list[float]] = {k: [] for k in engines}
    for engine in engines.values():
        engine.session.run(x, 0)  # warm-up
    for _ in range(args.runs):
        for key, engine in engines.items():
            start = time.perf_counter()
            engine.session.run(x, 0)
            times[key].append((time.perf_counter() - start) * 1000)

    ref_key = ("onnxruntime", "fp32")
    ref = scores[ref_key]
    ref_ms = statistics.median(times[ref_key])
    load = os.getloadavg()
    print(
        f"\n{args.model}, {len(data)} test-split images of ../shared/data/real, {cores} threads, "
        f"load average {load[0]:.1f}/{load[1]:.1f}\n"
    )
    print(
        "| runtime | precision | MAE | IoU | ΔMAE vs fp32 | ΔIoU vs fp32 | mean abs Δα vs fp32 "
        "(levels) | ms / inference | speed vs ORT fp32 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    deltas: dict[str, dict[str, float]] = {}
    for key, s in scores.items():
        diff = float(
            np.mean(
                [
                    np.abs(a.astype(int) - b.astype(int)).mean()
                    for a, b in zip(alphas[key], alphas[ref_key], strict=True)
                ]
            )
        )
        ms = statistics.median(times[key])
        delta = {
            "mae_delta": round(s["mae"] - ref["mae"], 5),
            "iou_delta": round(s["iou"] - ref["iou"], 5),
            "mean_abs_alpha_delta": round(diff, 3),
            "n": len(data),
            "split": "test of ../shared/data/real (bench/_split.py)",
        }
        deltas[f"{key[0]}/{key[1]}"] = delta
        print(
            f"| {key[0]} | {key[1]} | {s['mae']:.4f} | {s['iou']:.4f} | "
            f"{delta['mae_delta']:+.4f} | {delta['iou_delta']:+.4f} | {diff:.3f} | {ms:.0f} | "
            f"{ref_ms / ms:.2f}x |"
        )
    print("\n" + json.dumps(deltas, indent=1))
    if args.write:
        from bgbye.engines.runtime import resolve_runtime

        runtime = resolve_runtime("auto")
        spec = record_quality(int8_path.with_suffix(".json"), deltas[f"{runtime}/int8"])
        print(f"wrote metrics.vs_fp32 ({runtime}) into {int8_path.with_suffix('.json')}")
        print(json.dumps(spec.metrics, indent=1))


if __name__ == "__main__":
    main()
