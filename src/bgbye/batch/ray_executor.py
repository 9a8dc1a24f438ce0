"""Ray Data executor: the same batch as ``bgbye remove``, spread over a Ray cluster.

Shape (Ray Data batch inference): the driver plans tasks exactly like the local executor
(naming, tree mirroring, collision rule, skip-done resume), turns the pending ones into a
dataset of ``(src, out, rel)`` rows, and ``map_batches`` sends batches to a pool of actors.
Each actor holds ONE Remover (one ONNX Runtime session, loaded once) and, per row, reads ->
decodes -> predicts -> composes/encodes -> writes atomically, returning a status row. A bad
file is a row with ``ok=False``, never an exception, so one corrupt image cannot fail a job.

Paths are local paths or fsspec URLs (``file://``, ``s3://`` with s3fs installed, ``gs://``
...). Object stores are read with one concurrent ``fs.cat`` per batch, which hides request
latency without extra processes.

Public entry points:

- :func:`remove_folder_ray` ``(src, dst, ref, options, settings, ...) -> Summary``: the plain
  function for library callers such as the Kedro ``dataset_generation`` pipeline
  (``executor: ray``).
- :func:`run_ray_cli`: what ``bgbye remove ... --ray [ADDRESS]`` calls; returns the exit code.

Ray is imported lazily, so ``bgbye`` imports (and the local executor runs) without it.
"""

from __future__ import annotations

import logging
import math
import os
import posixpath
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bgbye.atomic import atomic_write_bytes, is_partial
from bgbye.batch.local import as_failure, process_task
from bgbye.batch.plan import IMAGE_SUFFIXES, Task, clean_partials, plan_tasks
from bgbye.batch.summary import Failure, Summary
from bgbye.errors import BgbyeError
from bgbye.postprocess import RemoveOptions
from bgbye.settings import Settings

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from bgbye.remover import Remover

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
# Object stores: one PUT is already atomic (and "rename" would be copy + delete).
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})
RESULT_COLUMNS = ("rel", "ok", "code", "message", "engine")


class Item(NamedTuple):
    """One planned unit of work; ``src``/``out`` are local paths or fsspec URLs."""

    src: str
    out: str
    rel: str


def is_url(path: str | Path) -> bool:
    return "://" in str(path)


def _url_to_fs(url: str) -> tuple[AbstractFileSystem, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


# --- planning ------------------------------------------------------------------------------------


def plan_items(inputs: Sequence[str | Path], output: str | Path, fmt: str) -> list[Item]:
    """Plan like :func:`bgbye.batch.plan.plan_tasks`; URLs are listed through fsspec."""
    if not any(is_url(p) for p in [*inputs, output]):
        return [Item(str(t.src), str(t.out), t.rel) for t in plan_tasks(inputs, Path(output), fmt)]
    return _plan_urls([str(p) for p in inputs], str(output), fmt)


def _plan_urls(inputs: list[str], output: str, fmt: str) -> list[Item]:
    out_fs, out_root = _url_to_fs(output)
    out_root = out_root.rstrip("/")
    first_fs, first = _url_to_fs(inputs[0])
    if (len(inputs) == 1 and first_fs.isfile(first)
            and PurePosixPath(out_root).suffix.lower() in IMAGE_SUFFIXES):
        return [Item(first_fs.unstrip_protocol(first), out_fs.unstrip_protocol(out_root),
                     posixpath.basename(first))]
    items: list[Item] = []
    taken: set[str] = set()
    for root_url in inputs:
        fs, root = _url_to_fs(root_url)
        root = root.rstrip("/")
        same_fs = fs.protocol == out_fs.protocol
        if fs.isdir(root):
            pairs = [(p, posixpath.relpath(p, root)) for p in sorted(fs.find(root))]
        elif fs.exists(root):
            pairs = [(root, posixpath.basename(root))]
        else:
            raise FileNotFoundError(f"No such file or folder: {root_url}")
        for src, rel in pairs:
            rel_path = PurePosixPath(rel)
            if (rel_path.suffix.lower() not in IMAGE_SUFFIXES
                    or is_partial(Path(rel_path.name))
                    or any(part.startswith(".") for part in rel_path.parts[:-1])):
                continue
            if same_fs and src.startswith(out_root + "/"):
                continue  # never re-process our own outputs when OUT sits inside the input
            parent = rel_path.parent.as_posix()
            folder = out_root if parent == "." else f"{out_root}/{parent}"
            target = f"{folder}/{rel_path.stem}.{fmt}"
            if target in taken:
                target = f"{folder}/{rel_path.name}.{fmt}"
            taken.add(target)
            items.append(Item(fs.unstrip_protocol(src), out_fs.unstrip_protocol(target), rel))
    return items


def pending_items(items: Sequence[Item], overwrite: bool = False) -> list[Item]:
    """Drop items whose output exists and is non-empty (resume), unless ``overwrite``."""
    if overwrite:
        return list(items)
    finished: set[str] = set()
    url_outs = [it.out for it in items if is_url(it.out)]
    if url_outs:
        # One listing of the output tree instead of a request per file (object stores).
        fs, _ = _url_to_fs(url_outs[0])
        roots = {posixpath.dirname(_url_to_fs(u)[1]) for u in url_outs}
        for root in _common_roots(roots):
            if fs.isdir(root):
                for path, info in fs.find(root, detail=True).items():
                    if (info.get("size") or 0) > 0:
                        finished.add(fs.unstrip_protocol(path))
    return [
        it for it in items
        if not (it.out in finished if is_url(it.out) else Task(Path(it.src), Path(it.out),
                                                                it.rel).done())
    ]


def _common_roots(folders: Iterable[str]) -> list[str]:
    """The shortest set of folders covering ``folders`` (so each subtree is listed once)."""
    roots: list[str] = []
    for folder in sorted(folders):
        if not any(folder == r or folder.startswith(r.rstrip("/") + "/") for r in roots):
            roots.append(folder)
    return roots


# --- the work each actor does --------------------------------------------------------------------


def read_sources(srcs: Sequence[str]) -> list[bytes | BaseException]:
    """Bytes of each source, or the error reading it. URLs of one filesystem are fetched with
    one ``fs.cat`` call, which async filesystems (s3fs, gcsfs) run concurrently."""
    results: list[bytes | BaseException] = [b""] * len(srcs)
    by_protocol: dict[str, list[int]] = {}
    for i, src in enumerate(srcs):
        if is_url(src):
            by_protocol.setdefault(src.split("://", 1)[0], []).append(i)
        else:
            try:
                results[i] = Path(src).read_bytes()
            except OSError as exc:
                results[i] = exc
    for indices in by_protocol.values():
        fs, _ = _url_to_fs(srcs[indices[0]])
        paths = [_url_to_fs(srcs[i])[1] for i in indices]
        try:
            fetched = fs.cat(paths, on_error="return")
        except Exception as exc:  # the whole request failed: every file of it failed
            fetched = dict.fromkeys(paths, exc)
        for i, path in zip(indices, paths, strict=True):
            results[i] = fetched.get(path, FileNotFoundError(path))
    return results


def write_output(out: str, data: bytes) -> None:
    """Write ``data`` so a reader sees no file or a whole one, never a prefix."""
    if not is_url(out):
        atomic_write_bytes(Path(out), data)
        return
    from fsspec.implementations.local import LocalFileSystem

    fs, path = _url_to_fs(out)
    if isinstance(fs, LocalFileSystem):
        atomic_write_bytes(Path(path), data)
        return
    try:
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if protocols & ATOMIC_PUT_PROTOCOLS:
            fs.pipe_file(path, data)
        else:  # other filesystems: a hidden temp name (skipped by planners), then rename
            folder, name = posixpath.split(path)
            tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.part"
            fs.makedirs(folder, exist_ok=True)
            fs.pipe_file(tmp, data)
            fs.mv(tmp, path)
    except OSError as exc:
        from bgbye.errors import OutputError

        raise OutputError(f"Cannot write {out}: {exc.strerror or exc}") from exc


def process_item(remover: Remover, item: Item, data: bytes | BaseException,
                 options: RemoveOptions) -> Failure | None:
    """One item to a written output; the same error mapping as the local executor."""
    if not is_url(item.src) and not is_url(item.out):
        return process_task(remover, Task(Path(item.src), Path(item.out), item.rel), options)
    try:
        if isinstance(data, BaseException):
            raise data
        write_output(item.out, remover.remove_bytes(data, options).data)
        return None
    except Exception as exc:  # a bad file must never stop the batch
        return as_failure(item.rel, exc)


class RemoveBatch:
    """The ``map_batches`` callable: one instance per Ray actor, holding one Remover."""

    def __init__(self, ref: str | None, settings: Settings, options: RemoveOptions,
                 threads: int = 1):
        from bgbye.engines import EngineCache
        from bgbye.remover import Remover

        self.options = options
        self.remover: Remover | None = None
        self.load_error: BgbyeError | None = None
        try:
            self.remover = Remover(EngineCache(settings, threads=threads).get(ref), settings)
        except BgbyeError as exc:  # reported on every row instead of killing the actor pool
            self.load_error = exc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [Item(str(s), str(o), str(r))
                 for s, o, r in zip(batch["src"], batch["out"], batch["rel"], strict=True)]
        rows: list[tuple[str, bool, str, str, str]] = []
        if self.remover is None:
            assert self.load_error is not None
            err = self.load_error
            rows = [(it.rel, False, err.code, err.message, "") for it in items]
        else:
            label = self.remover.engine.label
            # Plain local items go through the local executor's own process_task (which
            # reads the file itself); anything touching a URL is read here, one batch at once.
            via_fs = [is_url(it.src) or is_url(it.out) for it in items]
            fetched = iter(read_sources([it.src for it, f in zip(items, via_fs, strict=True) if f]))
            for item, use_fs in zip(items, via_fs, strict=True):
                data = next(fetched) if use_fs else b""
                failure = process_item(self.remover, item, data, self.options)
                if failure is None:
                    rows.append((item.rel, True, "", "", label))
                else:
                    rows.append((failure.path, False, failure.code, failure.message, label))
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(RESULT_COLUMNS)
        return {
            name: np.array(col, dtype=bool if name == "ok" else object)
            for name, col in zip(RESULT_COLUMNS, columns, strict=True)
        }


# --- the driver ----------------------------------------------------------------------------------


@contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Join a running Ray (``address`` or ``RAY_ADDRESS``) or start a local one for this run.

    A Ray that is already initialised in this process (tests, notebooks, Kedro) is reused and
    left running; one started here is shut down at the end.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **common)
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


def run_ray(
    items: Sequence[Item],
    ref: str | None,
    options: RemoveOptions,
    settings: Settings,
    *,
    address: str | None = None,
    actors: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_failure: Callable[[Failure], None] | None = None,
) -> Summary:
    """Run planned items on Ray; the Summary counts the same way as ``run_local``."""
    from tqdm import tqdm

    start = time.perf_counter()
    summary = Summary(total=len(items))
    todo = pending_items(items, overwrite)
    summary.skipped = len(items) - len(todo)
    if not todo:
        summary.seconds = time.perf_counter() - start
        return summary
    batch_size = max(1, batch_size or DEFAULT_BATCH_SIZE)
    with ray_session(address):
        import ray

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # our own tqdm counts images, like the local executor
        ctx.print_on_execution_start = False
        ctx.enable_auto_log_stats = False
        progress_log = logging.getLogger("ray.data._internal.progress")
        if _QUIET_PROGRESS not in progress_log.filters:
            progress_log.addFilter(_QUIET_PROGRESS)
        n_actors = actors or default_actors(ray.cluster_resources().get("CPU", 1), len(todo),
                                            batch_size)
        rows = [it._asdict() for it in todo]
        # About one block per batch so every actor gets work from the start; capped so a
        # million-file job does not drown the scheduler in tiny blocks.
        blocks = max(1, min(math.ceil(len(rows) / batch_size), 10_000))
        ds = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            RemoveBatch,
            fn_constructor_kwargs={"ref": ref, "settings": settings, "options": options,
                                   "threads": 1},
            batch_size=batch_size,
            batch_format="numpy",
            # Two batches in flight per actor: the next one is queued while one runs, and at
            # the end no actor sits on a backlog while another idles.
            compute=ray.data.ActorPoolStrategy(size=n_actors, max_tasks_in_flight_per_actor=2),
            num_cpus=1,
        )
        bar = tqdm(total=len(todo), unit="img", disable=not progress, file=sys.stderr,
                   dynamic_ncols=True, desc="removing (ray)")
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for rel, ok, code, message, engine in zip(
                    *(batch[c] for c in RESULT_COLUMNS), strict=True):
                summary.engine = summary.engine or str(engine)
                if ok:
                    summary.done += 1
                else:
                    failure = Failure(str(rel), str(code), str(message))
                    summary.failed += 1
                    summary.failures.append(failure)
                    if on_failure:
                        on_failure(failure)
            bar.update(len(batch["rel"]))
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def check_ref(ref: str | None, settings: Settings) -> str:
    """Fail fast, before starting Ray, on an unknown or missing model; returns its label."""
    from bgbye.engines import EngineCache

    return EngineCache(settings, threads=1).get(ref).label


def remove_folder_ray(
    src: str | Path | Sequence[str | Path],
    dst: str | Path,
    ref: str | None,
    options: RemoveOptions,
    settings: Settings,
    *,
    address: str | None = None,
    actors: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    on_failure: Callable[[Failure], None] | None = None,
) -> Summary:
    """Remove backgrounds from ``src`` (folder(s), file(s) or URLs) into ``dst`` on Ray.

    The library twin of ``bgbye remove SRC -o DST --ray``: same naming and resume; failures
    are in ``Summary.failures``, nothing raises for a bad image. Raises ``FileNotFoundError``
    for a missing input and ``BgbyeError`` for an unusable model.
    """
    inputs = [src] if isinstance(src, str | Path) else list(src)
    options = options.validated()
    items = plan_items(inputs, dst, options.output_format)
    if not is_url(dst):
        clean_partials(Path(dst))
    return run_ray(items, ref, options, settings, address=address, actors=actors,
                   batch_size=batch_size, overwrite=overwrite, progress=progress,
                   on_failure=on_failure)


def run_ray_cli(
    inputs: Sequence[str],
    output: Path | str,
    ref: str | None,
    options: RemoveOptions,
    settings: Settings,
    *,
    address: str | None = None,
    actors: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """``bgbye remove ... --ray``: prints failures and the summary line; returns the exit code."""
    import click

    label = ""
    try:
        items = plan_items(list(inputs), output, options.output_format)
        if not (address or os.environ.get("RAY_ADDRESS")):
            # On a cluster the model must exist on the workers, not necessarily here.
            label = check_ref(ref, settings)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except BgbyeError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return 2
    if not items:
        click.echo("error: No images found in the inputs.", err=True)
        return 2
    if not is_url(output):
        clean_partials(Path(output))
    summary = run_ray(
        items, ref, options, settings, address=address, actors=actors, batch_size=batch_size,
        overwrite=overwrite, progress=progress,
        on_failure=lambda f: click.echo(f"failed: {f.path}: {f.message}", err=True),
    )
    summary.engine = summary.engine or label
    if settings.pushgateway_url:
        from bgbye.monitoring import push_batch_summary

        push_batch_summary(settings.pushgateway_url, summary)
    click.echo(f"{summary.line()} -> {output}  [engine: {summary.engine}]", err=True)
    return 0 if summary.ok else 1
