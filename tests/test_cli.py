"""The `bgbye` command end to end, as a subprocess (what users run)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bgbye.settings import Settings
from tests import hostile
from tests.conftest import image_bytes


def _run(
    args: list[str],
    settings: Settings,
    *,
    stdin: bytes | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "BGBYE_MODEL_DIR": str(settings.model_dir),
        "BGBYE_DEFAULT_MODEL": "tiny",
        "BGBYE_EXTRA_MODEL_DIRS": "[]",
        **(extra_env or {}),
    }
    env.pop("BGBYE_PUSHGATEWAY_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bgbye", *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _tree(root: Path) -> Path:
    src = root / "photos"
    (src / "holiday").mkdir(parents=True)
    (src / "a.jpg").write_bytes(image_bytes("JPEG"))
    (src / "holiday" / "b.png").write_bytes(image_bytes("PNG", 50, 40))
    return src


def test_folder_mirrored_with_summary_then_resumed(settings: Settings, tmp_path: Path) -> None:
    src, out = _tree(tmp_path), tmp_path / "out"
    first = _run(["remove", str(src), "-o", str(out)], settings)
    assert first.returncode == 0, first.stderr.decode()
    assert b"2 done, 0 skipped, 0 failed" in first.stderr
    assert Image.open(out / "holiday" / "b.png").size == (50, 40)
    second = _run(["remove", str(src), "-o", str(out)], settings)
    assert second.returncode == 0 and b"0 done, 2 skipped, 0 failed" in second.stderr
    # Outputs get the usual mode (0666 less the umask), not mkstemp's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "a.png").stat().st_mode) == 0o666 & ~umask


def test_corrupt_file_reported_and_exit_code_1(settings: Settings, tmp_path: Path) -> None:
    src, out = _tree(tmp_path), tmp_path / "out"
    (src / "bad.jpg").write_bytes(hostile.TEXT_AS_JPG)
    res = _run(["remove", str(src), "-o", str(out)], settings)
    assert res.returncode == 1
    assert b"failed: bad.jpg: Not a supported image" in res.stderr
    assert b"2 done, 0 skipped, 1 failed" in res.stderr
    assert (out / "a.png").is_file()
    # -q: errors only, no progress bar and no summary line.
    quiet = _run(["remove", str(src), "-o", str(out), "-q"], settings)
    assert quiet.returncode == 1 and quiet.stdout == b""
    assert quiet.stderr.decode().splitlines() == [
        "failed: bad.jpg: Not a supported image: expected JPEG, PNG, WebP, BMP, TIFF or GIF."]


def test_stdin_to_stdout(settings: Settings) -> None:
    res = _run(["remove", "-", "--format", "webp"], settings, stdin=image_bytes())
    assert res.returncode == 0, res.stderr.decode()
    assert Image.open(io.BytesIO(res.stdout)).format == "WEBP"


def test_options_reach_the_output(settings: Settings, tmp_path: Path) -> None:
    f = tmp_path / "p.jpg"
    f.write_bytes(image_bytes("JPEG"))
    res = _run(
        [
            "remove",
            str(f),
            "-o",
            str(tmp_path / "r.png"),
            "--bg-color",
            "#00ff00",
            "--crop",
            "--margin",
            "2",
            "--refine",
        ],
        settings,
    )
    assert res.returncode == 0, res.stderr.decode()
    img = Image.open(tmp_path / "r.png")
    assert img.mode == "RGB" and img.size[0] < 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], b"Unknown model 'nope'"),
        (["--bg-color", "#zz"], b"Invalid colour"),
        (["--format", "gif"], b"Invalid value for '-f' / '--format'"),
        # The README's rule, as on the server: a model or a provider, never both.
        (["--model", "tiny", "--provider", "removebg"], b"either a model or a provider"),
    ],
)
def test_bad_arguments_are_clear(
    settings: Settings, tmp_path: Path, args: list[str], message: bytes
) -> None:
    f = tmp_path / "p.jpg"
    f.write_bytes(image_bytes("JPEG"))
    res = _run(["remove", str(f), "-o", str(tmp_path / "o"), *args], settings)
    assert res.returncode == 2 and message in res.stderr
    assert b"Traceback" not in res.stderr


def test_missing_input(settings: Settings, tmp_path: Path) -> None:
    res = _run(["remove", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")], settings)
    assert res.returncode == 2 and b"No such file or folder" in res.stderr


def test_models_list_and_verify(settings: Settings) -> None:
    listed = _run(["models", "list"], settings)
    assert listed.returncode == 0
    text = listed.stdout.decode()
    assert "tiny" in text and "u2netp" in text and "missing" in text and "heuristic" in text
    verify = _run(["models", "verify", "tiny"], settings)
    assert verify.returncode == 0 and b"present, no pinned hash" in verify.stdout
    unknown = _run(["models", "fetch", "nope"], settings)
    assert unknown.returncode == 2 and b"Unknown model 'nope'" in unknown.stderr


def test_models_verify_detects_tampering(settings: Settings, tmp_path: Path) -> None:
    (settings.model_dir / "u2netp.onnx").write_bytes(b"tampered")
    res = _run(["models", "verify", "u2netp"], settings)
    assert res.returncode == 1 and b"CHECKSUM MISMATCH" in res.stderr


@pytest.mark.parametrize(("flag", "env", "address"), [
    (None, None, "local threads"),
    ([], None, None),  # --ray alone, no RAY_ADDRESS: a local Ray for the run
    (["auto"], None, "auto"),  # join the running cluster, never start a local one
    ([], "ray://head:10001", "ray://head:10001"),
    (["ray://other:10001"], "ray://head:10001", "ray://other:10001"),
])
def test_ray_flag_picks_the_executor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     flag: list[str] | None, env: str | None,
                                     address: str | None) -> None:
    from click.testing import CliRunner

    from bgbye import cli
    from bgbye.batch import LocalExecutor, RayExecutor

    seen: list[object] = []
    monkeypatch.setattr(cli, "_remove_files", lambda *args: seen.append(args[5]) or 0)
    monkeypatch.setattr(cli, "get_settings", lambda: Settings(ray_address=env))
    args = ["remove", str(tmp_path), "--ray-actors", "3"]
    if flag is not None:
        args[2:2] = ["--ray", *flag]
    result = CliRunner().invoke(cli.cli, args)
    assert result.exit_code == 0, result.output
    (executor,) = seen
    if address == "local threads":
        assert isinstance(executor, LocalExecutor)
    else:
        assert isinstance(executor, RayExecutor)
        assert (executor.address, executor.actors) == (address, 3)


def test_url_inputs_and_outputs_run_on_the_local_executor(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o s3://...`` stays a URL (a Path would fold its '//'); memory:// stands in here."""
    fsspec = pytest.importorskip("fsspec")
    from click.testing import CliRunner

    from bgbye import cli

    fs = fsspec.filesystem("memory")
    fs.pipe_file("/cli/in/a.png", image_bytes("PNG"))
    fs.pipe_file("/cli/in/sub/b.jpg", image_bytes("JPEG"))
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    try:
        result = CliRunner().invoke(cli.cli, ["remove", "memory://cli/in", "-o",
                                              "memory://cli/out", "--workers", "2"])
        assert result.exit_code == 0, result.output
        assert "2 done, 0 skipped, 0 failed" in result.stderr
        assert "-> memory://cli/out  [engine: tiny (ONNX)]" in result.stderr
        assert sorted(fs.find("/cli/out")) == ["/cli/out/a.png", "/cli/out/sub/b.png"]
    finally:
        fs.rm("/cli", recursive=True)
