"""The ``bgbye`` command: remove, serve, models list|fetch|verify."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from bgbye import __version__
from bgbye.cli_models import ACCEPT_HELP, licence_note, models, with_accepted
from bgbye.errors import BgbyeError
from bgbye.options import RemoveOptions
from bgbye.settings import Settings, get_settings

if TYPE_CHECKING:
    from bgbye.batch import Executor, Summary

log = logging.getLogger("bgbye")


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgbye")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def cli(verbose: int) -> None:
    """Self-hosted background removal: cut-outs from your own models or an online provider."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "output",
    default=None,
    help="Output folder (or file, for one input), or a URL (s3://...). Default: ./bgbye-out",
)
@click.option("-m", "--model", default=None, help="Model name or path to NAME.onnx.")
@click.option(
    "-p",
    "--provider",
    default=None,
    help="Online provider, or a fallback list like 'removebg,local'.",
)
@click.option("-f", "--format", "fmt", type=click.Choice(["png", "webp", "jpg"]), default="png")
@click.option("--mask-only", is_flag=True, help="Write the alpha mask as a greyscale image.")
@click.option("--bg-color", default=None, help="Background colour, e.g. '#ffffff'.")
@click.option(
    "--bg-image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Background image (scaled to cover).",
)
@click.option("--crop", is_flag=True, help="Crop to the subject.")
@click.option("--margin", type=click.IntRange(0, 10_000), default=0, help="Crop margin in pixels.")
@click.option("--refine", is_flag=True,
              help="Clear the faint haze around the subject (alpha levels 64..192 stretched).")
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Parallel workers (default: cores).",
)
@click.option(
    "--ray",
    "ray",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Run on Ray: 'auto' joins the running cluster, ray://HOST:PORT a remote one; with no "
         "address RAY_ADDRESS, else a local Ray started for the run.",
)
@click.option("--ray-actors", type=int, default=None, help="Ray: inference actors.")
@click.option("--ray-batch-size", type=int, default=None, help="Ray: images per batch.")
@click.option("--overwrite", is_flag=True, help="Redo outputs that already exist.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "int8"]),
    default=None,
    help="Inference precision (default BGBYE_PRECISION or fp32); see docs/performance.md.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; errors only.")
@click.option("--class", "cls", default=None, metavar="CLASS",
              help="Class of a multi-class model (u2net_cloth_seg: upper, lower, full, all).")
@click.option("--accept-license", "accepted", multiple=True, metavar="NAME", help=ACCEPT_HELP)
def remove(
    inputs: tuple[str, ...],
    output: str | None,
    model: str | None,
    provider: str | None,
    fmt: str,
    mask_only: bool,
    bg_color: str | None,
    bg_image: Path | None,
    crop: bool,
    margin: int,
    refine: bool,
    workers: int | None,
    ray: str | None,
    ray_actors: int | None,
    ray_batch_size: int | None,
    overwrite: bool,
    precision: str | None,
    quiet: bool,
    cls: str | None,
    accepted: tuple[str, ...],
) -> None:
    """Remove backgrounds from files, folders (recursive, tree mirrored) or '-' (stdin)."""
    from bgbye.engines.providers import engine_ref

    settings = with_accepted(get_settings(), accepted)
    if precision:
        settings = settings.model_copy(update={"precision": precision})
    if cls:  # NAME:CLASS is how every front end names a class of a multi-class model
        model = f"{model or settings.default_model}:{cls}"
    try:
        options = RemoveOptions(
            format=fmt, mask_only=mask_only, bg_color=bg_color, crop=crop, margin=margin,
            refine=refine, bg_image=bg_image.read_bytes() if bg_image else None)
        ref = engine_ref(model, provider)
    except BgbyeError as exc:
        _fail(exc.message)
    if "-" in inputs:
        if len(inputs) > 1:
            _fail("'-' (stdin) cannot be combined with other inputs.")
        sys.exit(_remove_stdin(settings, ref, options, output))
    if note := licence_note(settings, ref):
        click.echo(note, err=True)
    executor = _executor(settings, workers, ray, ray_actors, ray_batch_size)
    # A string, not a Path: Path("s3://b/out") would lose a slash and stop being a URL.
    sys.exit(_remove_files(inputs, output or "bgbye-out", ref, options, settings,
                           executor, overwrite, quiet))


def _executor(settings: Settings, workers: int | None, ray: str | None,
              ray_actors: int | None, ray_batch_size: int | None) -> Executor:
    """``--ray`` alone: RAY_ADDRESS (through Settings) or a local Ray; ``--ray ADDRESS``
    (``auto`` included) is passed to Ray as given."""
    from bgbye.batch import LocalExecutor, RayExecutor

    if ray is None:
        return LocalExecutor(workers)
    return RayExecutor(ray or settings.ray_address, actors=ray_actors, batch_size=ray_batch_size)


def _remove_files(inputs: tuple[str, ...], output: str, ref: str | None,
                  options: RemoveOptions, settings: Settings, executor: Executor,
                  overwrite: bool, quiet: bool) -> int:
    from tqdm import tqdm

    from bgbye.batch import remove_folder

    bar: tqdm[None] | None = None

    def progress(finished: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="img", disable=quiet, file=sys.stderr,
                       dynamic_ncols=True, desc="removing")
        bar.update(finished - bar.n)

    try:
        summary = remove_folder(
            list(inputs), output, ref=ref, options=options, settings=settings,
            executor=executor, overwrite=overwrite, on_progress=progress,
            on_failure=lambda f: click.echo(f"failed: {f.path}: {f.message}", err=True))
    except FileNotFoundError as exc:
        _fail(str(exc))
    except BgbyeError as exc:
        _fail(exc.message)
    finally:
        if bar is not None:
            bar.close()
    _push_summary(settings, summary)
    if not quiet:
        click.echo(f"{summary.line()} -> {output}  [engine: {summary.engine}]", err=True)
    return 0 if summary.ok else 1


def _push_summary(settings: Settings, summary: Summary) -> None:
    if not settings.pushgateway_url:
        return
    from bgbye.monitoring import push_batch_summary

    push_batch_summary(settings.pushgateway_url, summary)


def _remove_stdin(
    settings: Settings, ref: str | None, options: RemoveOptions, output: str | None
) -> int:
    from bgbye.atomic import atomic_write_bytes
    from bgbye.engines import threads_per_worker
    from bgbye.remover import Remover

    data = sys.stdin.buffer.read()
    try:
        remover = Remover.from_model(ref, settings, threads=threads_per_worker(1))
        result = remover.remove_bytes(data, options)
        if output is None or output == "-":
            sys.stdout.buffer.write(result.data)
            sys.stdout.buffer.flush()
        else:
            atomic_write_bytes(Path(output), result.data)
    except BgbyeError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return 1
    return 0


@cli.command()
@click.option("--host", default=None, help="Default: BGBYE_HOST or 127.0.0.1")
@click.option("--port", type=int, default=None, help="Default: BGBYE_PORT or 8080")
@click.option("--accept-license", "accepted", multiple=True, metavar="NAME", help=ACCEPT_HELP)
def serve(host: str | None, port: int | None, accepted: tuple[str, ...]) -> None:
    """Serve the website and the HTTP API."""
    try:
        from bgbye.server.app import serve as run_server
    except ImportError as exc:
        _fail(f"the server needs the 'server' extra: pip install 'bgbye[server]' ({exc})")
    run_server(with_accepted(get_settings(), accepted), host=host, port=port)


cli.add_command(models)


def main() -> None:
    cli(prog_name="bgbye")


if __name__ == "__main__":
    main()
