#!/usr/bin/env bash
# Device run for issue 13 item 8 (prepared; not run: no GPU was lent to the task).
# Carry: data/gpu_pack (bench/train_gpu_pack.py, <= 64 MiB) and data/gpu_pack/u2netp.onnx.
# Needs torch (CUDA build), onnx2torch, kedro and the project's deps on the device machine.
set -euo pipefail
PY=${PY:-python}
OUT=${OUT:-/tmp/gpu_out}
nvidia-smi -L || true
PYTHONPATH=src:. timeout 540 "$PY" bench/train_gpu.py --pack data/gpu_pack \
    --u2netp data/gpu_pack/u2netp.onnx --out "$OUT" --minutes "${MINUTES:-7}" --batch 16
