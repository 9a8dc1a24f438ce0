"""Which runtime runs an ONNX file, and at which precision.

One ``Session`` protocol (an input batch in, one graph output out) with two implementations:
ONNX Runtime (always there; CUDA when its GPU build is installed) and OpenVINO (the optional
``bgbye[openvino]`` extra). The ModelSpec's pre/post-processing in ``engines.onnx`` drives both,
so a runtime can only change speed, never what a model means.

Precision is an explicit choice (``fp32`` by default). ``bf16`` is OpenVINO's
INFERENCE_PRECISION_HINT; ``int8`` is a separate, quantized ONNX file (a ModelSpec variant,
see ``engines.quantize``) that either runtime runs. A precision the machine cannot run falls
back to fp32 with a warning, never silently.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np
import onnxruntime as ort

from bgbye.errors import InvalidOptionError

log = logging.getLogger(__name__)

RuntimeName = Literal["auto", "onnxruntime", "openvino"]
Precision = Literal["fp32", "bf16", "int8"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)
PRECISIONS: tuple[str, ...] = get_args(Precision)

# OpenVINO's names for the precision hint.
_OV_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


class Session(Protocol):
    runtime: str  # onnxruntime | openvino: what actually runs
    precision: str  # fp32 | bf16 | int8: what actually runs (after any fallback)
    input_name: str  # the graph's input, as the ONNX file names it

    def run(self, x: np.ndarray, index: int) -> np.ndarray:
        """Run one (N, C, H, W) float32 batch; return graph output ``index`` (a private copy)."""
        ...


def validate(runtime: str, precision: str) -> None:
    if runtime not in RUNTIMES:
        raise InvalidOptionError(f"Unknown runtime {runtime!r}; choose {', '.join(RUNTIMES)}.")
    if precision not in PRECISIONS:
        raise InvalidOptionError(
            f"Unknown precision {precision!r}; choose {', '.join(PRECISIONS)}."
        )


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


def resolve_runtime(requested: str) -> str:
    """auto: OpenVINO when installed and no GPU is usable, ONNX Runtime otherwise.

    Measured on the 2-core AVX-512/AMX box (docs/performance.md, bench/batch.py): in the steady
    state OpenVINO fp32 runs 1.84x rembg against ONNX Runtime's 1.47x (same masks), and only
    OpenVINO runs bf16. It compiles the model at start-up (~0.5 s more), so for a handful of
    images BGBYE_RUNTIME=onnxruntime finishes sooner.
    """
    validate(requested, "fp32")
    if requested == "auto":
        return "openvino" if openvino_installed() and not cuda_available() else "onnxruntime"
    if requested == "openvino" and not openvino_installed():
        raise InvalidOptionError(
            "BGBYE_RUNTIME=openvino needs OpenVINO: pip install 'bgbye[openvino]'."
        )
    return requested


@lru_cache(maxsize=1)
def _ov_core() -> Any:
    import openvino as ov

    return ov.Core()


def cpu_capabilities() -> frozenset[str]:
    """What OpenVINO's CPU plugin can run natively here (FP32, BF16, INT8, ...)."""
    if not openvino_installed():
        return frozenset()
    return frozenset(_ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def effective_precision(runtime: str, precision: str) -> str:
    """The precision that will run: the requested one, or fp32 with a warning."""
    validate("auto", precision)
    if precision == "bf16":
        if runtime != "openvino":
            log.warning(
                "precision bf16 needs the OpenVINO runtime (pip install 'bgbye[openvino]', "
                "BGBYE_RUNTIME=auto|openvino); running fp32"
            )
            return "fp32"
        if "BF16" not in cpu_capabilities():
            log.warning("this CPU has no native bf16 (AVX512_BF16/AMX); running fp32")
            return "fp32"
    if precision == "int8" and runtime == "openvino" and "INT8" not in cpu_capabilities():
        log.warning("this CPU has no native int8 support in OpenVINO; running fp32")
        return "fp32"
    return precision


def create_session(path: Path, *, threads: int = 0) -> ort.InferenceSession:
    """An ONNX Runtime session: CUDA first when the GPU build is installed, else CPU."""
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Memory patterns pre-plan one buffer per concurrent run; without them the arena reuses
    # blocks: u2netp, 2 threads, peak RSS 869 -> 734 MB at the same CPU time per inference.
    # (Turning the arena off instead saves a little more memory but costs +30% CPU.)
    opts.enable_mem_pattern = False
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(str(path), opts, providers=providers)


class OrtSession:
    runtime = "onnxruntime"

    def __init__(self, path: Path, *, threads: int = 0, precision: str = "fp32"):
        self.precision = precision
        self.session = create_session(path, threads=threads)
        self.device = "cuda" if self.session.get_providers()[0].startswith("CUDA") else "cpu"
        self.input_name = self.session.get_inputs()[0].name
        self._outputs = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray, index: int) -> np.ndarray:
        # Asking for one output spares copying the others (u2netp has seven side outputs).
        out: np.ndarray = self.session.run([self._outputs[index]], {self.input_name: x})[0]
        return out


class OpenVinoSession:
    """OpenVINO on the CPU: one compiled model, ``streams`` infer requests run at once.

    Each caller borrows an infer request from a pool, so N executor workers run N inferences
    in parallel (one per stream) and never share a request's output buffer.
    """

    runtime = "openvino"

    def __init__(self, path: Path, *, threads: int = 0, streams: int = 1, precision: str = "fp32"):
        self.precision = precision
        self.device = "cpu"
        streams = max(1, streams)
        config: dict[str, Any] = {
            # Explicit, because on CPUs with AMX/AVX512_BF16 OpenVINO's default is bf16.
            "INFERENCE_PRECISION_HINT": _OV_HINT[precision],
            "NUM_STREAMS": streams,
        }
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads * streams
        core = _ov_core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.input_name = str(self.compiled.input(0).get_any_name())
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Concurrent first inferences (and shape changes) of different requests could deadlock
        # in OpenVINO's lazy set-up (seen with 2 workers): those run one at a time, under this
        # lock; a request's later runs at the same shape run freely, side by side.
        self._setup = threading.Lock()
        self._shape: dict[int, tuple[int, ...]] = {}
        shape = self.compiled.input(0).get_partial_shape()
        for _ in range(streams):
            request = self.compiled.create_infer_request()
            if shape.is_static:
                self._run(request, np.zeros(tuple(shape.to_shape()), np.float32))
            self._free.put(request)

    def _run(self, request: Any, x: np.ndarray) -> None:
        # share_inputs: hand ``x`` over instead of copying it into the request's buffer.
        if self._shape.get(id(request)) == x.shape:
            request.infer({0: x}, share_inputs=True)  # releases the GIL while it runs
            return
        with self._setup:
            request.infer({0: x}, share_inputs=True)
            self._shape[id(request)] = x.shape

    def run(self, x: np.ndarray, index: int) -> np.ndarray:
        request = self._free.get()
        try:
            self._run(request, x)
            return np.array(request.get_output_tensor(index).data, copy=True)
        finally:
            self._free.put(request)


def open_session(
    path: Path,
    *,
    runtime: str = "auto",
    precision: str = "fp32",
    threads: int = 0,
    streams: int = 1,
) -> Session:
    """A session for ``path``; ``precision`` must already be effective (see above)."""
    resolved = resolve_runtime(runtime)
    if resolved == "openvino":
        return OpenVinoSession(path, threads=threads, streams=streams, precision=precision)
    return OrtSession(path, threads=threads, precision=precision)
