"""``remove_folder``: the one batch entry point of the CLI, Kedro pipelines and libraries.

Plan once (:func:`bgbye.batch.plan.plan`), check the engine, clean what a killed run left,
skip finished outputs, then hand the rest to an :class:`~bgbye.batch.executor.Executor`
(:class:`~bgbye.batch.local.LocalExecutor` by default, or
:class:`~bgbye.batch.ray_executor.RayExecutor`). Nothing here prints: callers get callbacks
and a :class:`~bgbye.batch.summary.Summary`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bgbye.batch.executor import BatchSpec, Executor
from bgbye.batch.plan import NoImagesError, clean_partials, pending, plan
from bgbye.batch.summary import Failure, Summary
from bgbye.options import RemoveOptions
from bgbye.settings import Settings

# (finished so far, to do in this run): called once with 0 before the first image.
Progress = Callable[[int, int], None]


def remove_folder(
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    ref: str | None = None,
    options: RemoveOptions | None = None,
    settings: Settings | None = None,
    executor: Executor | None = None,
    overwrite: bool = False,
    on_failure: Callable[[Failure], None] | None = None,
    on_progress: Progress | None = None,
) -> Summary:
    """Remove backgrounds from files, folders or URLs into ``output`` (tree mirrored).

    ``ref`` is a model name or path, a provider reference, or None for the default model.
    Finished outputs are skipped unless ``overwrite``. A bad image is a ``Failure`` in the
    summary (and passed to ``on_failure``), never an exception. Raises ``FileNotFoundError``
    for a missing input, :class:`~bgbye.batch.plan.NoImagesError` when the inputs hold no
    image, and ``BgbyeError`` for an unusable engine, all before any image is processed.
    """
    from bgbye.batch.local import LocalExecutor

    options = options if options is not None else RemoveOptions()
    spec = BatchSpec(ref, options, settings if settings is not None else Settings.defaults())
    executor = executor if executor is not None else LocalExecutor()
    sources = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    tasks = plan(sources, output, options.output_format)
    if not tasks:
        raise NoImagesError("No images found in the inputs.")
    summary = Summary(total=len(tasks), engine=executor.prepare(spec))
    clean_partials(output)
    todo = pending(tasks, overwrite)
    summary.skipped = len(tasks) - len(todo)

    def report(failure: Failure | None, engine: str) -> None:
        summary.engine = summary.engine or engine
        if failure is None:
            summary.done += 1
        else:
            summary.failed += 1
            summary.failures.append(failure)
            if on_failure is not None:
                on_failure(failure)
        if on_progress is not None:
            on_progress(summary.done + summary.failed, len(todo))

    if on_progress is not None:
        on_progress(0, len(todo))
    start = time.perf_counter()  # the work, not planning or loading the model
    if todo:
        executor.run(todo, spec, report)
    summary.seconds = time.perf_counter() - start
    return summary
