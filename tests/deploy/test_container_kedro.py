"""The Kedro image (no torch), built with podman, runs the data pipelines onto a mounted volume.

`kedro run --env test` with the CI configuration (generated images only, no network): ingestion,
preprocessing and dataset generation, each as the image's user, writing only under /app/data.
The torch image (Dockerfile.train) is not built here: see docs/deployment.md for its cost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.deploy import podman as pm
from tests.deploy.dockerfiles import ROOT

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]

KEDRO_IMAGE = "localhost/bgbye-kedro:ci"
UID = 10001
PIPELINES = ("data_ingestion", "data_preprocessing", "dataset_generation")


@pytest.fixture(scope="module")
def kedro_image() -> str:
    seconds = pm.build("Dockerfile.kedro", KEDRO_IMAGE, pm.base_image())
    print(f"\nbuilt {KEDRO_IMAGE} in {seconds:.0f} s")
    return KEDRO_IMAGE


def kedro(image: str, data: Path, *args: str) -> str:
    # conf/test's data root is a fresh temp folder per process unless BGBYE_DATA_ROOT names one:
    # point it at the volume, so each pipeline (one container each) reads the last one's output.
    proc = pm.podman("run", "--rm", *pm.RUN_ARGS, "--read-only", "-v", f"{data}:/app/data",
                     "-e", "BGBYE_DATA_ROOT=/app/data", image, *args, timeout=600)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def data(kedro_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("kedro-data")
    pm.chown_for_container(data)
    checkout_data = sorted(p for p in (ROOT / "data").rglob("*")) if (ROOT / "data").exists() \
        else []
    for pipeline in PIPELINES:
        out = kedro(kedro_image, data, "run", "--env", "test", f"--pipeline={pipeline}")
        assert "Pipeline execution completed" in out, out[-3000:]  # and podman exited 0
    # The container wrote to the volume only, never into the checkout it was built from.
    if (ROOT / "data").exists():
        assert sorted(p for p in (ROOT / "data").rglob("*")) == checkout_data
    return data


def test_the_image_lists_its_pipelines_and_has_no_torch(kedro_image: str) -> None:
    listed = pm.podman("run", "--rm", *pm.RUN_ARGS, kedro_image).stdout  # CMD: registry list
    assert {f"- {p}" for p in PIPELINES} <= set(listed.split("\n"))
    probe = "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('kedro') is None)"
    out = pm.podman("run", "--rm", *pm.RUN_ARGS, "--entrypoint", "python", kedro_image, "-c",
                    probe).stdout.split()
    assert out == ["None", "False"]


def test_ingestion_and_preprocessing_write_to_the_volume(data: Path) -> None:
    report = json.loads((data / "08_reporting" / "ingestion_report.json").read_text())
    assert {s["name"]: s["status"] for s in report["sources"]}["synthetic"] == "ok"
    manifest = pd.read_parquet(data / "05_model_input" / "manifest.parquet")
    counts = json.loads((data / "08_reporting" / "data_report.json").read_text())["counts"]
    assert len(manifest) == counts["TOTAL"]["total"] > 0
    assert set(manifest["split"]) == {"train", "val", "test"}
    for written in (data / "02_intermediate" / "raw_pairs.parquet",
                    data / "08_reporting" / "data_contact_sheet.png"):
        assert written.stat().st_uid == UID and written.stat().st_mode & 0o777 == 0o644


def test_dataset_generation_composites_with_the_runtime(data: Path) -> None:
    report = json.loads((data / "08_reporting" / "dataset_generation_report.json").read_text())
    out = data / "03_primary" / "composited"
    images, masks = sorted((out / "images").iterdir()), sorted((out / "masks").iterdir())
    assert report["composites"] == len(images) == len(masks) > 0
    assert (out / "PROVENANCE.json").is_file()
