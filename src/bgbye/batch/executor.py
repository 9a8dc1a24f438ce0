"""What every batch executor shares: the Executor protocol and the work on one image.

An executor runs planned tasks (see :mod:`bgbye.batch.plan`) and reports each outcome; it
never prints, counts or decides what to skip: :func:`bgbye.batch.engine.remove_folder` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bgbye.batch.files import write_output
from bgbye.batch.plan import Task
from bgbye.batch.summary import Failure
from bgbye.errors import BgbyeError
from bgbye.options import RemoveOptions
from bgbye.settings import Settings

if TYPE_CHECKING:
    from bgbye.remover import Remover

log = logging.getLogger(__name__)

# Called once per finished task: its failure (None when the output was written) and the label
# of the engine that answered.
Report = Callable[[Failure | None, str], None]


@dataclass(frozen=True)
class BatchSpec:
    """What to run: the engine reference (None: the default model), options and settings."""

    ref: str | None
    options: RemoveOptions
    settings: Settings


class Executor(Protocol):
    def prepare(self, spec: BatchSpec) -> str:
        """Load or check the engine before any work, raising ``BgbyeError`` if it is unusable;
        returns its label ('' when only the workers can tell)."""

    def run(self, tasks: Sequence[Task], spec: BatchSpec, report: Report) -> None:
        """Process every task, calling ``report`` once for each; never raises for one image."""


def process(remover: Remover, task: Task, data: bytes | BaseException,
            options: RemoveOptions) -> Failure | None:
    """One task to an atomically written output; a failure is returned, never raised."""
    try:
        if isinstance(data, BaseException):
            raise data
        write_output(task.out, remover.remove_bytes(data, options).data)
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
