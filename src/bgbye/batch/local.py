"""Local executor: a bounded thread pool over the Remover.

Threads suffice because every heavy stage releases the GIL (Pillow decode, ONNX Runtime,
OpenCV encode), so with N workers decode/encode of one image overlaps inference of another.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from tqdm import tqdm

from bgbye.atomic import atomic_write_bytes
from bgbye.batch.plan import Task
from bgbye.batch.summary import Failure, Summary
from bgbye.errors import BgbyeError
from bgbye.postprocess import RemoveOptions
from bgbye.remover import Remover

log = logging.getLogger(__name__)


def process_task(remover: Remover, task: Task, options: RemoveOptions) -> Failure | None:
    """Run one task to an atomically written output; a failure is returned, never raised."""
    try:
        data = task.src.read_bytes()
        result = remover.remove_bytes(data, options)
        atomic_write_bytes(task.out, result.data)
        return None
    except Exception as exc:  # a bad file must never stop the batch
        return as_failure(task.rel, exc)


def as_failure(rel: str, exc: BaseException) -> Failure:
    """The one mapping from an exception to a reported failure, for every executor."""
    if isinstance(exc, BgbyeError):
        return Failure(rel, exc.code, exc.message)
    if isinstance(exc, OSError):
        return Failure(rel, "io_error", f"{exc.strerror or exc}")
    log.error("unexpected failure on %s", rel, exc_info=exc)
    return Failure(rel, "internal_error", f"{type(exc).__name__}: {exc}")


def run_local(
    tasks: Iterable[Task],
    remover: Remover,
    options: RemoveOptions,
    *,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
    on_failure: Callable[[Failure], None] | None = None,
) -> Summary:
    task_list = list(tasks)
    summary = Summary(total=len(task_list), engine=remover.engine.label)
    todo = [t for t in task_list if overwrite or not t.done()]
    summary.skipped = len(task_list) - len(todo)
    start = time.perf_counter()
    bar = tqdm(
        total=len(todo),
        unit="img",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
        desc="removing",
    )
    window: deque[Future[Failure | None]] = deque()
    workers = max(1, workers)

    def settle(fut: Future[Failure | None]) -> None:
        failure = fut.result()
        if failure is None:
            summary.done += 1
        else:
            summary.failed += 1
            summary.failures.append(failure)
            if on_failure:
                on_failure(failure)
        bar.update(1)

    # A bounded window keeps memory flat however many files the folder holds.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgbye") as pool:
        for task in todo:
            window.append(pool.submit(process_task, remover, task, options))
            if len(window) >= workers * 2:
                settle(window.popleft())
        while window:
            settle(window.popleft())
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
