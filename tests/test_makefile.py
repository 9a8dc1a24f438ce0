"""`make run` on a fresh clone installs only what serving needs: no torch, Ray or test tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "kedro", "ray", "segmentation-models-pytorch", "pytest")


def _dry_run(target: str, venv: Path) -> list[str]:
    out = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [line for line in out.splitlines() if "pip install" in line and " -e " in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_installs_the_server_extra_only(tmp_path: Path) -> None:
    (install,) = _dry_run("run", tmp_path / "fresh-venv")
    assert install.endswith("-e '.[server]'"), install
    test_installs = _dry_run("test", tmp_path / "fresh-venv")
    assert test_installs
    for line in test_installs:  # `make test` installs every extra the suites need
        extras = set(re.search(r"\.\[([^\]]+)\]", line).group(1).split(","))  # type: ignore[union-attr]
        assert {"server", "train", "ray", "dev"} <= extras, line


def test_the_server_extra_pulls_no_heavy_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower()
             for spec in [*project["dependencies"], *project["optional-dependencies"]["server"]]]
    assert not [n for n in names if n in HEAVY], names
