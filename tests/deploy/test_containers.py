"""The UI image, built with podman from the local Debian base and started for real.

Marked ``containers`` (excluded from the default run; `make test` runs it): builds take minutes on
a clean machine, seconds once podman's layer cache and the base image are there.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.deploy import podman as pm

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]

UI_IMAGE = "localhost/bgbye-ui:ci"
UID = 10001


@pytest.fixture(scope="session")
def base() -> str:
    return pm.base_image()


@pytest.fixture(scope="session")
def ui_image(base: str) -> str:
    seconds = pm.build("Dockerfile.ui", UI_IMAGE, base)
    print(f"\nbuilt {UI_IMAGE} in {seconds:.0f} s")
    return UI_IMAGE


def photo() -> bytes:
    return image_bytes("PNG", 320, 240)


def assert_cut_out(png: bytes) -> None:
    """A PNG with a real alpha channel: transparent background, opaque subject."""
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == "RGBA"
    alpha = np.asarray(img)[..., 3]
    assert alpha.min() <= 16 and alpha.max() >= 240, (alpha.min(), alpha.max())
    assert 0.05 < float((alpha > 127).mean()) < 0.95


def start_ui(image: str, env: dict[str, str] | None = None,
             options: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """The image's own CMD on a free loopback port (host network: the port is set by env)."""
    port = pm.free_port()
    env = {"BGBYE_HOST": "127.0.0.1", "BGBYE_PORT": str(port), "BGBYE_THREADS": "1", **(env or {})}
    with pm.container(image, env=env, options=options) as name:
        url = f"http://127.0.0.1:{port}"
        pm.wait_for(f"{url}/healthz", name)
        ready = pm.wait_for(f"{url}/readyz", name)
        assert ready.json()["status"] == "ready"
        yield name, url


@pytest.fixture(scope="module")
def ui(ui_image: str) -> Iterator[tuple[str, str]]:
    yield from start_ui(ui_image)


def test_v1_remove_returns_a_cut_out(ui: tuple[str, str]) -> None:
    _, url = ui
    response = httpx.post(f"{url}/v1/remove", files={"image": ("photo.png", photo(), "image/png")},
                          timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert_cut_out(response.content)


def test_process_local_serves_the_result(ui: tuple[str, str]) -> None:
    _, url = ui
    response = httpx.post(f"{url}/process/local", data={"model": "u2netp"},
                          files={"image": ("photo.png", photo(), "image/png")}, timeout=60)
    assert response.status_code == 200, response.text
    after = httpx.get(url + response.json()["after"], timeout=30)
    assert after.status_code == 200
    assert_cut_out(after.content)


def test_runs_as_the_non_root_user(ui: tuple[str, str]) -> None:
    name, _ = ui
    # PID 1 is the server itself (exec-form CMD), so its ids are the served process's.
    status = pm.exec_in(name, "cat", "/proc/1/status")
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert set(uids) == {str(UID)}
    assert "bgbye" in pm.exec_in(name, "cat", "/proc/1/cmdline")


def test_the_image_has_no_training_stack(ui_image: str) -> None:
    # (bgbye_pipelines' source ships in the one distribution; what it would need does not.)
    probe = ("import importlib.util, json; print(json.dumps({m: importlib.util.find_spec(m) is not "
             "None for m in ('torch', 'torchvision', 'kedro', 'segmentation_models_pytorch', "
             "'onnxruntime', 'fastapi')}))")
    found = json.loads(pm.podman("run", "--rm", *pm.RUN_ARGS, ui_image, "python", "-c",
                                 probe).stdout)
    assert found == {"torch": False, "torchvision": False, "kedro": False,
                     "segmentation_models_pytorch": False, "onnxruntime": True, "fastapi": True}


def test_the_healthcheck_passes(ui: tuple[str, str]) -> None:
    name, _ = ui
    # The image's HEALTHCHECK command, run by podman inside the container (exit 0 = healthy).
    assert pm.podman("healthcheck", "run", name, check=False).returncode == 0


@pytest.fixture(scope="module")
def locked_down(ui_image: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[str, str, Path, Path]]:
    """Read-only root and data volume, writable storage only, API keys required."""
    root = tmp_path_factory.mktemp("ui-volumes")
    data, storage = root / "data", root / "storage"
    (data / "06_models").mkdir(parents=True)
    storage.mkdir()
    pm.chown_for_container(storage)
    options = ("--read-only", "-v", f"{data}:/app/data:ro", "-v", f"{storage}:/var/lib/bgbye")
    for name, url in start_ui(ui_image, env={"BGBYE_API_KEYS": "ci-key-1,ci-key-2"},
                              options=options):
        yield name, url, data, storage


def test_api_keys_are_required(locked_down: tuple[str, str, Path, Path]) -> None:
    _, url, _, _ = locked_down
    files = {"image": ("photo.png", photo(), "image/png")}
    for path in ("/v1/remove", "/process/local"):
        response = httpx.post(url + path, files=files, timeout=60)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"]
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # probes stay open


def test_read_only_except_storage(locked_down: tuple[str, str, Path, Path]) -> None:
    name, url, data, storage = locked_down
    files = {"image": ("photo.png", photo(), "image/png")}
    removed = httpx.post(f"{url}/v1/remove", files=files, headers={"X-API-Key": "ci-key-2"},
                         timeout=60)
    assert removed.status_code == 200, removed.text
    assert_cut_out(removed.content)
    processed = httpx.post(f"{url}/process/local", files=files, headers={"X-API-Key": "ci-key-1"},
                           timeout=60)
    assert processed.status_code == 200, processed.text
    result = Path(processed.json()["after"]).name
    # The result went to the storage volume, owned by the image's user.
    written = storage / "results" / result
    assert written.is_file() and written.stat().st_uid == UID
    assert_cut_out(written.read_bytes())
    after = httpx.get(url + processed.json()["after"], headers={"X-API-Key": "ci-key-1"},
                      timeout=30)
    assert after.status_code == 200
    # Nothing else is writable: the data volume and the image's own files.
    for target in ("/app/data/06_models/x", "/opt/bgbye/models/x", "/app/x"):
        proc = pm.podman("exec", name, "touch", target, check=False)
        assert proc.returncode != 0 and "Read-only file system" in proc.stderr, target
    assert list(data.rglob("*")) == [data / "06_models"]
