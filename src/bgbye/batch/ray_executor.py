"""Ray Data executor: the same batch as ``bgbye remove``, spread over a Ray cluster.

Shape (Ray Data batch inference): :func:`bgbye.batch.engine.remove_folder` plans and skips
finished outputs exactly as for the local executor; the pending tasks become a dataset of
``(src, out, rel)`` rows and ``map_batches`` sends batches to a pool of actors. Each actor
holds ONE Remover (one ONNX Runtime session, loaded once) and, per row, reads -> decodes ->
predicts -> composes/encodes -> writes atomically, returning a status row. A bad file is a row
with ``ok=False``, never an exception, so one corrupt image cannot fail a job. Sources on an
object store are read with one concurrent ``fs.cat`` per batch.

Ray is imported lazily, so ``bgbye`` imports (and the local executor runs) without it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from bgbye.batch.executor import BatchSpec, Report, process
from bgbye.batch.files import read_sources
from bgbye.batch.plan import Task
from bgbye.batch.summary import Failure
from bgbye.errors import BgbyeError
from bgbye.options import RemoveOptions
from bgbye.remover import Remover
from bgbye.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
TASK_COLUMNS = ("src", "out", "rel")
RESULT_COLUMNS = ("rel", "ok", "code", "message", "engine")


class RemoveBatch:
    """The ``map_batches`` callable: one instance per Ray actor, holding one Remover."""

    def __init__(self, ref: str | None, settings: Settings, options: RemoveOptions,
                 threads: int = 1):
        from bgbye.engines import EngineCache

        self.options = options
        self.remover: Remover | None = None
        self.load_error: BgbyeError | None = None
        try:
            self.remover = Remover(EngineCache(settings, threads=threads).get(ref), settings)
        except BgbyeError as exc:  # reported on every row instead of killing the actor pool
            self.load_error = exc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tasks = [Task(str(s), str(o), str(r))
                 for s, o, r in zip(*(batch[c] for c in TASK_COLUMNS), strict=True)]
        rows: list[tuple[str, bool, str, str, str]] = []
        if self.remover is None:
            assert self.load_error is not None
            err = self.load_error
            rows = [(t.rel, False, err.code, err.message, "") for t in tasks]
        else:
            label = self.remover.engine.label
            for task, data in zip(tasks, read_sources([t.src for t in tasks]), strict=True):
                failure = process(self.remover, task, data, self.options)
                if failure is None:
                    rows.append((task.rel, True, "", "", label))
                else:
                    rows.append((failure.path, False, failure.code, failure.message, label))
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(RESULT_COLUMNS)
        return {
            name: np.array(col, dtype=bool if name == "ok" else object)
            for name, col in zip(RESULT_COLUMNS, columns, strict=True)
        }


@contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Join the Ray at ``address`` (``auto``: the running one) or start a local one.

    A Ray that is already initialised in this process (tests, notebooks, Kedro) is reused and
    left running; one started here is shut down at the end. The environment is not read here
    (the CLI passes ``RAY_ADDRESS`` through Settings).
    """
    import ray

    if ray.is_initialized():
        yield
        return
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        ray.init(address=address, **common)
    else:  # "local" forces a new local Ray even where RAY_ADDRESS is set
        ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False,
                 **common)
    try:
        yield
    finally:
        ray.shutdown()


class _DropMessage(logging.Filter):
    """Drops one known, expected log line (we disable Ray Data's bars on purpose)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


_QUIET_PROGRESS = _DropMessage("Progress bars disabled")


def default_actors(cluster_cpus: float, pending: int, batch_size: int) -> int:
    """One single-threaded actor per CPU, but never more actors than batches to run."""
    return max(1, min(int(cluster_cpus), math.ceil(pending / max(1, batch_size))))


class RayExecutor:
    """Run on Ray: ``address`` None starts a local Ray for the run, ``auto`` joins the running
    cluster, anything else is a Ray address (``ray://head:10001``)."""

    def __init__(self, address: str | None = None, *, actors: int | None = None,
                 batch_size: int | None = None):
        self.address = address or None
        self.actors = actors
        self.batch_size = max(1, batch_size or DEFAULT_BATCH_SIZE)

    def prepare(self, spec: BatchSpec) -> str:
        """Fail fast, before starting Ray, on an unknown or missing model. On a cluster the
        model must exist on the workers, not necessarily here: the workers report it."""
        if self.address is not None:
            return ""
        from bgbye.engines import EngineCache

        return EngineCache(spec.settings, threads=1).get(spec.ref).label

    def run(self, tasks: Sequence[Task], spec: BatchSpec, report: Report) -> None:
        with ray_session(self.address):
            import ray

            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False  # the caller's progress counts images
            ctx.print_on_execution_start = False
            ctx.enable_auto_log_stats = False
            progress_log = logging.getLogger("ray.data._internal.progress")
            if _QUIET_PROGRESS not in progress_log.filters:
                progress_log.addFilter(_QUIET_PROGRESS)
            n_actors = self.actors or default_actors(ray.cluster_resources().get("CPU", 1),
                                                     len(tasks), self.batch_size)
            rows = [{c: getattr(t, c) for c in TASK_COLUMNS} for t in tasks]
            # About one block per batch so every actor gets work from the start; capped so a
            # million-file job does not drown the scheduler in tiny blocks.
            blocks = max(1, min(math.ceil(len(rows) / self.batch_size), 10_000))
            ds = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
                RemoveBatch,
                fn_constructor_kwargs={"ref": spec.ref, "settings": spec.settings,
                                       "options": spec.options, "threads": 1},
                batch_size=self.batch_size,
                batch_format="numpy",
                # Two batches in flight per actor: the next one is queued while one runs, and
                # at the end no actor sits on a backlog while another idles.
                compute=ray.data.ActorPoolStrategy(size=n_actors,
                                                   max_tasks_in_flight_per_actor=2),
                num_cpus=1,
            )
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for rel, ok, code, message, engine in zip(
                        *(batch[c] for c in RESULT_COLUMNS), strict=True):
                    failure = None if ok else Failure(str(rel), str(code), str(message))
                    report(failure, str(engine))
