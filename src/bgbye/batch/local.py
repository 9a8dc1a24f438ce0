"""Local executor: a bounded thread pool over one Remover.

Threads suffice because every heavy stage releases the GIL (Pillow decode, ONNX Runtime,
OpenCV encode), so with N workers decode/encode of one image overlaps inference of another.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from bgbye.batch.executor import BatchSpec, Report, process
from bgbye.batch.files import read_sources
from bgbye.batch.plan import Task
from bgbye.batch.summary import Failure
from bgbye.options import RemoveOptions
from bgbye.remover import Remover


class LocalExecutor:
    """``workers`` images at a time (default: the cores), ONNX Runtime threads split among
    them. ``remover`` reuses a loaded Remover instead of loading the engine in ``prepare``."""

    def __init__(self, workers: int | None = None, *, remover: Remover | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.remover = remover

    def prepare(self, spec: BatchSpec) -> str:
        if self.remover is None:
            from bgbye.engines import EngineCache, threads_per_worker

            cache = EngineCache(spec.settings, threads=threads_per_worker(self.workers))
            self.remover = Remover(cache.get(spec.ref), spec.settings)
        return self.remover.engine.label

    def run(self, tasks: Sequence[Task], spec: BatchSpec, report: Report) -> None:
        self.prepare(spec)
        remover = self.remover
        assert remover is not None
        label = remover.engine.label
        window: deque[Future[Failure | None]] = deque()
        # A bounded window keeps memory flat however many files the folder holds.
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bgbye") as pool:
            for task in tasks:
                window.append(pool.submit(_one, remover, task, spec.options))
                if len(window) >= self.workers * 2:
                    report(window.popleft().result(), label)
            while window:
                report(window.popleft().result(), label)


def _one(remover: Remover, task: Task, options: RemoveOptions) -> Failure | None:
    (data,) = read_sources([task.src])
    return process(remover, task, data, options)
