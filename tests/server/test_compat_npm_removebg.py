"""The npm ``remove.bg`` client (1.3.0, the most used remove.bg SDK), unchanged, against a live
bgbye. Its endpoint is a constant it passes to ``unirest.post``; ``npm_removebg/drive.js``
wraps ``unirest.post`` to rewrite ``https://api.remove.bg`` to the test server's origin and
changes nothing else. The client never sends ``format`` (so ``format=jpg``/``zip`` are covered
by the Python clients) and always asks for ``Accept: application/json``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import image_bytes
from tests.server.compat_fixtures import (
    API_KEY,
    assert_cutout,
    bgbye_url,  # noqa: F401 - fixture
    image_server,  # noqa: F401 - fixture
    noise_png,
    open_image,
    photo_file,
)

pytestmark = pytest.mark.slow  # npm installs the client once (a few seconds), then cached

PROJECT = Path(__file__).parent / "npm_removebg"
CACHE = Path(os.environ.get("BGBYE_TEST_NPM_CACHE", Path.home() / ".cache" / "bgbye-tests"))


@pytest.fixture(scope="module")
def driver() -> Path:
    """The client installed from the project's package-lock.json (npm ci), outside the
    checkout, once per lock file."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed (make system-deps installs them)")
    lock = (PROJECT / "package-lock.json").read_bytes()
    folder = CACHE / f"npm-removebg-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (folder / "node_modules" / "remove.bg").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PROJECT / name, folder / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                       cwd=folder, check=True, capture_output=True, timeout=300)
    shutil.copy(PROJECT / "drive.js", folder / "drive.js")
    return folder / "drive.js"


def run(driver: Path, url: str, *calls: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    payload = [{"fn": fn, "options": {"apiKey": API_KEY, **options}} for fn, options in calls]
    done = subprocess.run(["node", str(driver)], input=json.dumps(payload), env={
        **os.environ, "BGBYE_URL": url}, capture_output=True, text=True, timeout=120,
        check=True)
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def image_of(result: dict[str, Any]) -> Any:
    assert result["ok"], result
    return open_image(base64.b64decode(result["result"]["base64img"]))


def error_code(result: dict[str, Any]) -> str:
    assert not result["ok"], result
    code: str = result["error"][0]["code"]
    return code


def test_file_base64_url_and_headers(driver: Path, bgbye_url: str, image_server: Any,  # noqa: F811
                                     tmp_path: Path) -> None:
    url = image_server.add("/npm.png", image_bytes("PNG"))
    b64 = base64.b64encode(image_bytes("JPEG", quality=92)).decode()
    by_file, by_b64, by_url = run(
        driver, bgbye_url,
        ("removeBackgroundFromImageFile", {"path": str(photo_file(tmp_path)),
                                           "size": "regular", "type": "person"}),
        ("removeBackgroundFromImageBase64", {"base64img": b64}),
        ("removeBackgroundFromImageUrl", {"url": url, "outputFile": str(tmp_path / "o.png")}),
    )
    for result in (by_file, by_b64, by_url):
        assert_cutout(image_of(result))
    meta = by_file["result"]
    assert meta["creditsCharged"] == "0"
    assert meta["detectedType"] == "person"  # echoed: bgbye does not classify
    assert (meta["resultWidth"], meta["resultHeight"]) == ("64", "48")
    assert int(meta["rateLimitRemaining"]) <= int(meta["rateLimit"])
    assert by_b64["result"]["detectedType"] == "other"  # type auto
    assert_cutout(open_image((tmp_path / "o.png").read_bytes()))


def test_options(driver: Path, bgbye_url: str, tmp_path: Path) -> None:  # noqa: F811
    path = str(photo_file(tmp_path))
    big = base64.b64encode(image_bytes("JPEG", 1000, 800, quality=80)).decode()
    colour, preview, crop_file, crop_json, alpha = run(
        driver, bgbye_url,
        ("removeBackgroundFromImageFile", {"path": path, "bg_color": "00ff00"}),
        ("removeBackgroundFromImageBase64", {"base64img": big, "size": "preview"}),
        ("removeBackgroundFromImageFile", {"path": path, "crop": True, "crop_margin": "5px"}),
        ("removeBackgroundFromImageBase64", {"base64img": base64.b64encode(
            image_bytes("PNG")).decode(), "crop": True}),
        ("removeBackgroundFromImageFile", {"path": path, "channels": "alpha", "size": "full"}),
    )
    img = image_of(colour)
    assert img.format == "JPEG"  # format auto without transparency
    assert np.abs(np.asarray(img)[1, 1].astype(int) - (0, 255, 0)).max() <= 20
    width, height = image_of(preview).size
    assert 240_000 <= width * height <= 250_000
    tight = image_of(crop_json).size
    assert 28 <= tight[0] <= 38 and 28 <= tight[1] <= 38
    assert image_of(crop_file).size == (tight[0] + 10, tight[1] + 10)
    mask = image_of(alpha)
    assert mask.mode == "L" and np.asarray(mask)[24, 32] > 150 and np.asarray(mask)[1, 1] < 30


def test_failures(driver: Path, bgbye_url: str, tmp_path: Path) -> None:  # noqa: F811
    path = str(photo_file(tmp_path))
    big = tmp_path / "big.png"
    big.write_bytes(noise_png(700, 700))
    results = run(
        driver, bgbye_url,
        ("removeBackgroundFromImageBase64", {"base64img": ""}),
        ("removeBackgroundFromImageFile", {"path": path, "apiKey": "wrong"}),
        ("removeBackgroundFromImageFile", {"path": path, "bg_color": "nope"}),
        ("removeBackgroundFromImageFile", {"path": str(big)}),
        ("removeBackgroundFromImageUrl", {"url": "http://169.254.169.254/latest/x.png"}),
        ("removeBackgroundFromImageFile", {"path": path, "size": "huge"}),
    )
    assert [error_code(r) for r in results] == [
        "missing_source", "auth_failed", "invalid_bg_color", "file_too_large",
        "invalid_image_url", "invalid_size"]
