"""The website in a real browser: Debian's Chromium driven by Playwright.

Never `playwright install`: the browser is the apt package at /usr/bin/chromium.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.server.live import live_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def page(settings: Settings) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with live_server(settings) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(url)
        pg.wait_for_selector("#status.pill-ok")
        yield pg
        assert errors == [], f"JavaScript errors: {errors}"
        browser.close()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_upload_compare_download_png_with_alpha(page, tmp_path: Path) -> None:
    photo = _write(tmp_path, "photo.jpg", image_bytes("JPEG", 320, 240, quality=92))
    page.set_input_files("#file-input", str(photo))
    page.wait_for_selector("#after-img[src^='blob:']", state="visible", timeout=30_000)
    page.wait_for_selector(".item[data-state='done']")
    assert "tiny (ONNX)" in page.inner_text("#viewer-meta")

    # The comparison slider moves with the keyboard.
    page.focus("#compare-range")
    page.keyboard.press("End")
    assert page.eval_on_selector("#compare", "el => el.style.getPropertyValue('--pos')") == "100%"
    page.keyboard.press("Home")
    page.keyboard.press("PageUp")

    with page.expect_download() as info:
        page.click("#viewer-download")
    download = info.value
    assert download.suggested_filename == "photo.png"
    saved = tmp_path / "download.png"
    download.save_as(saved)
    img = Image.open(saved)
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (320, 240)
    alpha = np.asarray(img)[:, :, 3]
    assert alpha.min() < 30 and alpha.max() > 150  # background removed, subject kept

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "website-result.png"), full_page=True)


def test_many_images_progress_errors_and_zip(page, tmp_path: Path) -> None:
    files = [_write(tmp_path, f"img{i}.png", image_bytes("PNG", 80 + 10 * i, 60)) for i in range(3)]
    files.append(_write(tmp_path, "broken.png", b"this is not a png"))
    page.set_input_files("#file-input", [str(f) for f in files])
    from playwright.sync_api import expect

    # A locator wait, not wait_for_function: the page's CSP forbids the eval that needs.
    settled = page.locator(".item[data-state='done'], .item[data-state='error']")
    expect(settled).to_have_count(4, timeout=30_000)
    assert page.locator(".item[data-state='done']").count() == 3
    broken = page.locator(".item[data-state='error']")
    assert "broken.png" in broken.inner_text()
    assert "Not a supported image" in broken.locator(".item-error").inner_text()
    assert "3 of 4 done" in page.inner_text("#queue-summary")

    with page.expect_download() as info:
        page.click("#zip-all")
    saved = tmp_path / "all.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["img0.png", "img1.png", "img2.png"]
        assert Image.open(io.BytesIO(zf.read("img2.png"))).size == (100, 60)

    # The broken item can be removed with the keyboard.
    broken.locator(".item-remove").focus()
    page.keyboard.press("Enter")
    assert page.locator(".item").count() == 3


def test_keyboard_opens_the_file_picker(page) -> None:
    zone = page.locator("#dropzone")
    zone.focus()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'dropzone'")
    with page.expect_file_chooser(timeout=10_000) as info:
        zone.press("Enter")
    assert info.value.is_multiple()


def test_provider_without_key_is_labelled_mocked(page, tmp_path: Path) -> None:
    page.check("input[name='engine'][value='provider']", force=True)
    page.select_option("#provider", "removebg")
    assert "watermarked" in page.inner_text("#provider-hint")
    page.set_input_files("#file-input", str(_write(tmp_path, "p.png", image_bytes("PNG", 96, 72))))
    page.wait_for_selector(".item[data-state='done']", timeout=30_000)
    assert page.is_visible("#viewer-mocked")
    assert page.is_visible(".item-mocked")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "website-mocked-provider.png"), full_page=True)


def test_narrow_screen_layout(page, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_input_files("#file-input", str(_write(tmp_path, "m.png", image_bytes("PNG", 120, 90))))
    page.wait_for_selector(".item[data-state='done']", timeout=30_000)
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False  # nothing forces horizontal scrolling on a phone
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "website-phone.png"), full_page=True)
