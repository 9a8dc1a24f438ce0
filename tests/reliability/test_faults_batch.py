"""``bgbye remove`` under faults: kill -9 mid-run then rerun, a full disk, an unwritable
output folder, and hostile files in the input folder."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from bgbye.cli import cli
from tests import hostile
from tests.conftest import image_bytes
from tests.reliability.procs import ROOT, bgbye_env

IMAGES = 30


def _inputs(folder: Path, count: int, size: tuple[int, int] = (900, 700)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        (sub / f"img{i:03d}.png").write_bytes(image_bytes("PNG", *size))
    return folder


def _visible_outputs(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _assert_whole(paths: list[Path]) -> None:
    for path in paths:
        with Image.open(path) as img:
            img.load()  # raises on a truncated file


def _remove_cmd(inp: Path, out: Path, *extra: str) -> list[str]:
    # No -q: these tests read the summary line (-q prints errors only).
    return [sys.executable, "-m", "bgbye", "remove", str(inp), "-o", str(out), *extra]


@pytest.mark.slow
def test_kill9_mid_batch_then_rerun(tmp_path: Path, model_dir: Path) -> None:
    inp, out = _inputs(tmp_path / "in", IMAGES), tmp_path / "out"
    env = bgbye_env(model_dir, tmp_path / "storage")
    proc = subprocess.Popen(_remove_cmd(inp, out, "-w", "2"), env=env, cwd=ROOT,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_visible_outputs(out)) < 4:
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    first = _visible_outputs(out)
    assert 4 <= len(first) < IMAGES, len(first)
    _assert_whole(first)  # atomic writes: a killed run leaves whole files or none

    rerun = subprocess.run(_remove_cmd(inp, out, "-w", "2"), env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "skipped" in rerun.stderr
    final = _visible_outputs(out)
    assert len(final) == IMAGES
    _assert_whole(final)
    assert not [p for p in out.rglob("*.part")]  # the rerun cleaned the killed run's temp files


@pytest.mark.slow
def test_full_disk_gives_a_clear_error_and_keeps_earlier_outputs(tmp_path: Path,
                                                                 model_dir: Path) -> None:
    """RLIMIT_FSIZE makes every write past 150 kB fail with EFBIG, as a full disk fails writes
    (portable; no mount needed). Small images fit, large ones do not."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "small.png").write_bytes(image_bytes("PNG", 64, 48))
    (inp / "large.png").write_bytes(image_bytes("PNG", 1200, 900))
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "earlier.png"
    earlier.write_bytes(image_bytes("PNG", 500, 400))  # a previous run's output
    limit = 150_000

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(_remove_cmd(inp, out, "-w", "1"), env=bgbye_env(
        model_dir, tmp_path / "storage"), cwd=ROOT, capture_output=True, text=True,
        timeout=120, preexec_fn=cap)
    assert proc.returncode == 1, proc.stderr
    assert "failed: large.png" in proc.stderr and "File too large" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "1 done, 0 skipped, 1 failed" in proc.stderr
    _assert_whole(_visible_outputs(out))
    assert (out / "small.png").is_file() and not (out / "large.png").exists()
    assert earlier.read_bytes() == image_bytes("PNG", 500, 400)
    assert not [p for p in out.rglob("*.part")]


@pytest.mark.slow
def test_real_full_disk(tmp_path: Path, model_dir: Path) -> None:
    """The same on a real 1 MB tmpfs (ENOSPC), where mounting is allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        inp = _inputs(tmp_path / "in", 12, size=(400, 300))
        proc = subprocess.run(_remove_cmd(inp, disk / "out", "-w", "1"), env=bgbye_env(
            model_dir, tmp_path / "storage"), cwd=ROOT, capture_output=True, text=True,
            timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert "No space left on device" in proc.stderr
        assert "Traceback" not in proc.stderr
        written = _visible_outputs(disk / "out")
        assert 0 < len(written) < 12
        _assert_whole(written)
        assert not [p for p in (disk / "out").rglob("*.part")]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_unwritable_output_folder(tmp_path: Path, settings: object,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An output path below a regular file cannot be created (EEXIST/ENOTDIR even for root)."""
    _set_env(monkeypatch, settings)
    inp = _inputs(tmp_path / "in", 2, size=(64, 48))
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    result = CliRunner().invoke(cli, ["remove", str(inp), "-o", str(blocker / "out"), "-q"])
    assert result.exit_code == 1, result.output
    assert "Cannot write" in result.output and "Traceback" not in result.output
    assert blocker.read_text() == "I am a file"


def _set_env(monkeypatch: pytest.MonkeyPatch, settings: object) -> None:
    from bgbye.settings import Settings, get_settings

    assert isinstance(settings, Settings)
    monkeypatch.setenv("BGBYE_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("BGBYE_DEFAULT_MODEL", "tiny")
    monkeypatch.setenv("BGBYE_EXTRA_MODEL_DIRS", "[]")
    get_settings.cache_clear()
    monkeypatch.setattr("bgbye.cli.get_settings", lambda: Settings())


def test_hostile_files_in_a_batch(tmp_path: Path, settings: object,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hostile file is reported and skipped; good files are processed; exit code 1."""
    _set_env(monkeypatch, settings)
    inp = tmp_path / "in"
    inp.mkdir()
    bad = {
        "bomb.png": hostile.png_bomb_header(), "bomb.gif": hostile.gif_bomb_header(),
        "bomb.webp": hostile.webp_bomb_header(), "bomb.tiff": hostile.tiff_bomb_header(),
        "half.jpg": hostile.truncated_jpeg(), "empty.png": b"", "text.jpg": hostile.TEXT_AS_JPG,
        "logo.png": hostile.SVG, "page.gif": hostile.HTML, "icc.png": hostile.huge_icc_png(),
    }
    good = {"ok.png": image_bytes("PNG"), "frames.gif": hostile.many_frames_gif(500),
            "exif.jpg": hostile.huge_exif_jpeg(), "png_named.jpg": image_bytes("PNG")}
    for name, data in {**bad, **good}.items():
        (inp / name).write_bytes(data)
    (inp / "notes.svg").write_bytes(hostile.SVG)  # not an image suffix: not even planned
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["remove", str(inp), "-o", str(out), "-q", "-w", "2"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for name in bad:
        assert f"failed: {name}: " in result.output, name
    for name in good:
        assert f"failed: {name}" not in result.output
    written = sorted(p.name for p in _visible_outputs(out))
    assert written == sorted(f"{Path(n).stem}.png" for n in good)
    _assert_whole(_visible_outputs(out))


def test_cli_unknown_model_and_provider(tmp_path: Path, settings: object,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _set_env(monkeypatch, settings)
    inp = _inputs(tmp_path / "in", 1, size=(64, 48))
    for args in (["-m", "nope"], ["-p", "nope"], ["--bg-color", "nocolour"],
                 ["-m", str(tmp_path / "missing.onnx")]):
        result = CliRunner().invoke(cli, ["remove", str(inp), "-o", str(tmp_path / "o"), "-q",
                                          *args])
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output and "Traceback" not in result.output
