"""GPU throughput, prepared for a machine with CUDA (not run on the 2-core CPU box).

Needs ONNX Runtime's GPU build (`pip install onnxruntime-gpu` in place of `onnxruntime`) and
the fetched u2netp. It makes a copy of u2netp with dynamic batch (and, for the large case,
dynamic height/width: u2netp is fully convolutional), then reports images/s on the CUDA
execution provider:

* inference alone at batch 1, 8 and 32, for u2netp at 320x320 and the same graph at
  1024x1024 (the input size of BiRefNet/ISNet; swap in `--large MODEL.onnx` when you have one);
* end to end on 1-MP JPEGs: decode + preprocess on CPU threads, batched inference on the GPU,
  decode_output + compose + PNG encode on CPU threads, overlapped (a bounded pipeline).

The server's GPU throughput under concurrency is bench/server_load.py with
BGBYE_RUNTIME=onnxruntime on the same machine (its pool sends one image per request; the CUDA
EP then runs them concurrently).

    BGBYE_RUNTIME=onnxruntime .venv/bin/python bench/gpu.py [--seconds 10] [--large PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BATCHES = (1, 8, 32)


def dynamic_copy(src: Path, dst: Path, *, spatial: bool) -> None:
    import onnx

    model = onnx.load(str(src))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for i, symbol in [(0, "batch"), *([(2, "height"), (3, "width")] if spatial else [])]:
            dims[i].ClearField("dim_value")
            dims[i].dim_param = symbol
    del model.graph.value_info[:]
    onnx.save(model, str(dst))


def cuda_session(path: Path) -> object:
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(path), providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    if session.get_providers()[0] != "CUDAExecutionProvider":
        sys.exit("CUDA execution provider not active: install onnxruntime-gpu on a GPU machine")
    return session


def inference_rate(session: object, size: int, batch: int, seconds: float) -> float:
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32)
    for _ in range(3):
        session.run(None, {name: x})  # type: ignore[attr-defined]  # warm-up, cuDNN autotune
    rates = []
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            session.run(None, {name: x})  # type: ignore[attr-defined]
            count += batch
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def end_to_end(model_path: Path, batch: int, files: list[Path]) -> float:
    """images/s through bgbye's own stages, inference batched, CPU stages overlapped."""
    from bgbye.engines.onnx import OnnxEngine
    from bgbye.models.registry import bundled_specs
    from bgbye.options import RemoveOptions
    from bgbye.remover import Remover

    spec = bundled_specs()["u2netp"].model_copy(deep=True)
    spec.input.dynamic_batch = True
    engine = OnnxEngine(spec, model_path, runtime="onnxruntime")
    remover = Remover(engine)
    options = RemoveOptions()
    data = [f.read_bytes() for f in files]
    cpu = ThreadPoolExecutor(os.cpu_count() or 4)
    start = time.perf_counter()
    pending = []
    for i in range(0, len(data), batch):
        rgbs = list(cpu.map(remover.decode, data[i : i + batch]))
        preds = engine.predict_batch(rgbs)
        pending += [
            cpu.submit(remover.finish, rgb, p.alpha, options)
            for rgb, p in zip(rgbs, preds, strict=True)
        ]
    for fut in pending:
        fut.result()
    cpu.shutdown()
    return len(data) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    ap.add_argument("--large", type=Path, default=None, help="a 1024x1024 model, if you have one")
    ap.add_argument("--images", type=int, default=256, help="1-MP JPEGs end to end")
    args = ap.parse_args()
    from bgbye.models.fetch import fetch
    from bgbye.models.registry import bundled_specs
    from bgbye.settings import get_settings

    u2netp = fetch(bundled_specs()["u2netp"], get_settings().model_dir)
    with tempfile.TemporaryDirectory(prefix="bgbye-gpu-") as tmp:
        small, large = Path(tmp) / "u2netp-b.onnx", Path(tmp) / "u2netp-any.onnx"
        dynamic_copy(u2netp, small, spatial=False)
        if args.large:
            dynamic_copy(args.large, large, spatial=False)
        else:
            dynamic_copy(u2netp, large, spatial=True)
        print("| model | input | batch | images/s (inference) |")
        print("|---|---|---:|---:|")
        for label, path, size in [
            ("u2netp", small, 320),
            (args.large.name if args.large else "u2netp graph", large, 1024),
        ]:
            session = cuda_session(path)
            for batch in BATCHES:
                rate = inference_rate(session, size, batch, args.seconds)
                print(f"| {label} | {size}x{size} | {batch} | {rate:.1f} |")

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from batch import make_folder

        folder = Path(tmp) / "in"
        make_folder(folder, args.images)
        files = sorted(folder.iterdir())
        print("\n| u2netp end to end (1-MP JPEG -> PNG) | batch | images/s |")
        print("|---|---:|---:|")
        for batch in BATCHES:
            rate = end_to_end(small, batch, files)
            print(f"| decode/encode on CPU threads | {batch} | {rate:.1f} |")


if __name__ == "__main__":
    main()
