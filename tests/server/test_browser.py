"""The website in a real browser: Debian's Chromium driven by Playwright.

Never `playwright install`: the browser is the apt package at /usr/bin/chromium. One server and
one browser per module; each test gets a fresh browser context (its own storage). axe-core comes
from npm (tests/server/browser_deps, `npm ci` into a cache folder) and is injected into the page.
Screenshots go to $BGBYE_TEST_ARTIFACTS/screenshots (default: the system temp folder).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bgbye.settings import Settings
from tests.conftest import image_bytes, isolated_settings
from tests.server.live import live_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(os.environ.get("BGBYE_TEST_ARTIFACTS",
                                Path(tempfile.gettempdir()) / "bgbye-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
DEPS = Path(__file__).with_name("browser_deps")
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from tests.model_fixtures import write_tiny_model

    root = tmp_path_factory.mktemp("browser")
    write_tiny_model(root / "models")
    return isolated_settings(root / "models", "tiny", root)


@pytest.fixture(scope="module")
def server(module_settings: Settings) -> Iterator[str]:
    with live_server(module_settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A fresh context + page on the shared server; JavaScript errors fail the test."""

    def __init__(self, browser: Any, url: str, viewport: dict[str, int], **options: Any):
        self.context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
        self.page = self.context.new_page()
        self.url = url
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, path: str = "/") -> Any:
        self.page.goto(self.url + path)
        if path == "/":
            self.page.wait_for_selector("#status.pill-ok")
        return self.page


@pytest.fixture
def make_page(browser: Any, server: str) -> Iterator[Any]:
    made: list[Page] = []

    def make(viewport: dict[str, int] = DESKTOP, url: str | None = None, **options: Any) -> Any:
        p = Page(browser, url or server, viewport, **options)
        made.append(p)
        return p.open()

    yield make
    for p in made:
        errors = p.errors
        p.context.close()
        assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def page(make_page: Any) -> Any:
    return make_page()


@pytest.fixture(scope="module")
def axe_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe-core, installed from the pinned lockfile into a cache folder (once per lockfile)."""
    lock = (DEPS / "package-lock.json").read_bytes()
    cache = Path.home() / ".cache" / "bgbye-tests" / f"npm-{hashlib.sha256(lock).hexdigest()[:12]}"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed (apt-get install npm)")
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(DEPS / name, cache / name)
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=cache,
                       check=True, capture_output=True, timeout=300)
    return script.read_text(encoding="utf-8")


# ------------------------------------------------------------------------- helpers
def disc_png(width: int, height: int, *, radius: float | None = None) -> bytes:
    """A white disc (the tiny model keeps bright pixels) on a dark noisy background."""
    rng = np.random.default_rng(width * 7 + height)
    img = rng.integers(0, 40, size=(height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    r = radius or min(width, height) / 3
    img[(xx - width / 2) ** 2 + (yy - height / 2) ** 2 < r * r] = 255
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def upload(page: Any, *paths: Path) -> None:
    page.set_input_files("#file-input", [str(p) for p in paths])


def wait_settled(page: Any, count: int, timeout: float = 30_000) -> None:
    from playwright.sync_api import expect

    # A locator wait, not wait_for_function: the page's CSP forbids the eval that needs.
    settled = page.locator(".item[data-state='done'], .item[data-state='error']")
    expect(settled).to_have_count(count, timeout=timeout)
    if page.locator(".item.selected[data-state='done'][data-kind='image']").count():
        page.wait_for_selector("#viewer[data-shown='true']")  # the result is drawn


def download(page: Any, selector: str, folder: Path, name: str) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    path = folder / name
    info.value.save_as(path)
    return path


def rgba(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGBA"))


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).bounding_box()
    assert b is not None, f"{selector} is not displayed"
    return dict(b)


def choose(page: Any, name: str, value: str) -> None:
    page.click(f"label:has(input[name='{name}'][value='{value}'])")


def shot(page: Any, name: str, **options: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **options)


def in_view(page: Any, selector: str, viewport: dict[str, int]) -> bool:
    b = box(page, selector)
    return b["y"] >= 0 and b["y"] + b["height"] <= viewport["height"] + 0.5


# ------------------------------------------------------------------------- tests
def test_upload_compare_download_png_with_alpha(page: Any, tmp_path: Path) -> None:
    upload(page, write(tmp_path, "photo.jpg", image_bytes("JPEG", 320, 240, quality=92)))
    wait_settled(page, 1)
    assert page.is_visible("#after-canvas")
    assert "tiny (ONNX)" in page.inner_text("#viewer-meta")

    # The split moves with the keyboard.
    page.focus("#compare-range")
    page.keyboard.press("End")
    assert page.eval_on_selector("#stage", "el => el.style.getPropertyValue('--pos')") == "100%"
    page.keyboard.press("Home")
    assert page.eval_on_selector("#stage", "el => el.style.getPropertyValue('--pos')") == "0%"

    saved = download(page, "#viewer-download", tmp_path, "download.png")
    img = Image.open(saved)
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (320, 240)
    alpha = np.asarray(img)[:, :, 3]
    assert alpha.min() < 30 and alpha.max() > 150  # background removed, subject kept

    page.select_option("#format", "jpg")  # instant: no new request, composed in the page
    assert "white" in page.inner_text("#bg-hint")
    jpg = Image.open(download(page, "#viewer-download", tmp_path, "download.jpg"))
    assert jpg.format == "JPEG" and jpg.size == (320, 240)
    shot(page, "website-result")


@pytest.mark.parametrize(("shape", "size"), [("portrait", (300, 640)), ("square", (520, 520)),
                                             ("landscape", (960, 420))])
def test_slider_handle_follows_the_pointer(page: Any, tmp_path: Path, shape: str,
                                           size: tuple[int, int]) -> None:
    upload(page, write(tmp_path, f"{shape}.png", disc_png(*size)))
    wait_settled(page, 1)
    stage = box(page, "#stage")
    y = stage["y"] + stage["height"] / 2
    start, end = stage["x"] + 0.75 * stage["width"], stage["x"] + 0.3 * stage["width"]
    page.mouse.move(start, y)
    page.mouse.down()
    for x in np.linspace(start, end, 8):
        page.mouse.move(float(x), y)
        handle = box(page, ".compare-handle")
        assert abs(handle["x"] + handle["width"] / 2 - x) <= 3, (shape, x, handle)
    page.mouse.up()
    pos = page.eval_on_selector("#stage", "el => el.style.getPropertyValue('--pos')")
    frame = box(page, "#frame")
    if stage["x"] - frame["x"] > 20:  # a click beside the photo leaves the split alone
        page.mouse.click(frame["x"] + 5, y)
        assert page.eval_on_selector("#stage", "el => el.style.getPropertyValue('--pos')") == pos
    shot(page, f"website-slider-{shape}")


def test_docs_render_with_no_request_leaving_the_server(make_page: Any, server: str) -> None:
    page = make_page()
    outside: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    page.wait_for_selector(".opblock-summary-path[data-path='/v1/remove']", timeout=20_000)
    shot(page, "docs-swagger")
    page.goto(server + "/redoc")
    page.wait_for_selector("h1 >> text=bgbye", timeout=30_000)
    shot(page, "docs-redoc")
    assert outside == []


def test_zoom_to_1_to_1_shows_source_pixels_unscaled(page: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, size=(1200, 1600, 3), dtype=np.uint8)  # noise: any scaling shows
    buf = io.BytesIO()
    Image.fromarray(src).save(buf, "PNG")
    upload(page, write(tmp_path, "noise.png", buf.getvalue()))
    wait_settled(page, 1)
    assert box(page, "#stage")["width"] < 1600  # fitted first
    page.click("#zoom-1")
    page.focus("#compare-range")
    page.keyboard.press("End")  # the original over the whole picture
    stage, frame = box(page, "#stage"), box(page, "#frame")
    assert stage["width"] == 1600 and stage["height"] == 1200
    assert page.inner_text("#zoom-level") == "100%"
    clip = {"x": frame["x"] + 40, "y": frame["y"] + 40, "width": 200, "height": 150}
    page.mouse.move(0, 0)
    png = page.screenshot(clip=clip)
    seen = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    x0, y0 = round(clip["x"] - stage["x"]), round(clip["y"] - stage["y"])
    expected = src[y0:y0 + 150, x0:x0 + 200].astype(int)
    assert np.abs(seen - expected).max() <= 2

    # Wheel zoom, keys and pan change the view; "Fit" brings it back.
    page.focus("#frame")
    page.keyboard.press("+")
    assert box(page, "#stage")["width"] > 1600
    page.keyboard.press("0")
    fitted = box(page, "#stage")
    assert fitted["width"] < 1600
    page.keyboard.press("ArrowLeft")
    assert box(page, "#stage")["x"] == fitted["x"] + 40
    from playwright.sync_api import expect

    level = page.inner_text("#zoom-level")
    page.mouse.move(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
    page.mouse.wheel(0, -400)
    expect(page.locator("#zoom-level")).not_to_have_text(level)
    assert box(page, "#stage")["width"] > fitted["width"]


def test_background_swap_is_instant_downloaded_and_copied(make_page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = make_page(permissions=["clipboard-read", "clipboard-write"])
    upload(page, write(tmp_path, "disc.png", disc_png(200, 150)))
    wait_settled(page, 1)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    choose(page, "bg", "color")
    page.click("button.swatch[aria-label='Sky blue']")
    color = page.eval_on_selector("#stage-bg", "el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(129, 212, 250)"
    assert [u for u in requests if "/v1/" in u or "/process" in u] == []  # no new request
    out = rgba(download(page, "#viewer-download", tmp_path, "blue.png"))
    assert out[0, 0, 3] == 255 and np.abs(out[0, 0, :3].astype(int) - (129, 212, 250)).max() <= 8
    assert out[75, 100, :3].min() > 240  # the subject stays
    shot(page, "website-background-colour")

    red = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(red, "PNG")
    choose(page, "bg", "image")
    page.set_input_files("#bg-file", str(write(tmp_path, "red.png", red.getvalue())))
    page.wait_for_selector("#stage-bg.bg-image")
    out = rgba(download(page, "#viewer-download", tmp_path, "red-bg.png"))
    assert out[0, 0, 3] == 255 and out[0, 0, 0] > 240 and out[0, 0, 1] < 15
    assert [u for u in requests if "/v1/" in u or "/process" in u] == []
    shot(page, "website-background-image")

    page.click("#copy")  # what is copied is the output as shown, as PNG
    expect(page.locator("#announcer")).to_contain_text("copied", timeout=10_000)
    copied = page.evaluate("""async () => {
        const [item] = await navigator.clipboard.read();
        const blob = await item.getType('image/png');
        return Array.from(new Uint8Array(await blob.arrayBuffer())); }""")
    pasted = np.asarray(Image.open(io.BytesIO(bytes(copied))).convert("RGBA"))
    assert pasted.shape == (150, 200, 4) and pasted[0, 0, 0] > 240 and pasted[0, 0, 1] < 15


def test_erase_stroke_is_transparent_in_the_download_and_undo_restores(page: Any,
                                                                        tmp_path: Path) -> None:
    upload(page, write(tmp_path, "disc.png", disc_png(240, 180, radius=70)))
    wait_settled(page, 1)
    before = rgba(download(page, "#viewer-download", tmp_path, "before.png"))
    assert before[90, 120, 3] > 200
    choose(page, "tool", "erase")
    page.eval_on_selector("#brush-size",
                          "el => { el.value = '30'; el.dispatchEvent(new Event('input')); }")
    stage = box(page, "#stage")
    scale = stage["width"] / 240
    cx, cy = stage["x"] + 120 * scale, stage["y"] + 90 * scale
    page.mouse.move(cx - 30 * scale, cy)
    page.mouse.down()
    page.mouse.move(cx + 30 * scale, cy, steps=6)
    page.mouse.up()
    shot(page, "website-brush-erase")
    erased = rgba(download(page, "#viewer-download", tmp_path, "erased.png"))
    assert erased.shape == before.shape  # full resolution
    assert erased[88:93, 95:146, 3].max() == 0  # the stroke is transparent
    assert erased[150, 120, 3] == before[150, 120, 3]  # the rest is untouched
    page.click("#undo")
    undone = rgba(download(page, "#viewer-download", tmp_path, "undone.png"))
    assert np.array_equal(undone[:, :, 3], before[:, :, 3])
    page.keyboard.press("Control+Shift+Z")  # redo
    redone = rgba(download(page, "#viewer-download", tmp_path, "redone.png"))
    assert redone[90, 120, 3] == 0
    # Every output option still works on the edited mask.
    page.check("#mask-only")
    mask_png = download(page, "#viewer-download", tmp_path, "mask.png")
    mask = np.asarray(Image.open(mask_png).convert("L"))
    assert mask[90, 120] == 0 and mask[150, 120] > 200


def test_results_survive_a_reload_and_unsaved_work_warns(page: Any, tmp_path: Path) -> None:
    upload(page, write(tmp_path, "keep.png", disc_png(160, 120)))
    wait_settled(page, 1)
    page.wait_for_timeout(300)  # the IndexedDB write
    page.reload()
    wait_settled(page, 1)
    assert page.inner_text("#viewer-name") == "keep.png"
    assert page.is_visible("#after-canvas")
    out = rgba(download(page, "#viewer-download", tmp_path, "restored.png"))
    assert out.shape == (120, 160, 4) and out[60, 80, 3] > 200

    # Not kept in the browser and not downloaded: leaving asks first.
    page.click("label:has(#remember)")
    upload(page, write(tmp_path, "new.png", disc_png(100, 80)))
    wait_settled(page, 2)
    with page.expect_event("dialog") as info:
        page.close(run_before_unload=True)
    assert info.value.type == "beforeunload"
    info.value.accept()


def test_rejected_files_say_why_and_a_zip_runs_as_a_job(page: Any, tmp_path: Path) -> None:
    def drop(name: str, data: bytes, mime: str) -> None:
        dt = page.evaluate_handle(
            """([b64, name, mime]) => {
                const bin = atob(b64); const bytes = new Uint8Array(bin.length);
                for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
                const dt = new DataTransfer(); dt.items.add(new File([bytes], name, {type: mime}));
                return dt; }""", [base64.b64encode(data).decode(), name, mime])
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": dt})

    drop("notes.txt", b"hello", "text/plain")
    note = page.locator("#notices .notice").first
    assert "notes.txt" in note.inner_text() and "not an image" in note.inner_text()
    assert "notes.txt" in page.inner_text("#announcer")

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a/one.png", disc_png(90, 60))
        zf.writestr("two.png", disc_png(80, 60))
        zf.writestr("broken.png", b"not a png")
    drop("photos.zip", buf.getvalue(), "application/zip")
    job = page.locator(".item[data-kind='job']")
    from playwright.sync_api import expect

    expect(job).to_have_attribute("data-state", "done", timeout=30_000)
    assert "2 of 3 done · 1 failed" in job.inner_text()
    assert "broken.png" in job.locator(".item-error").inner_text()
    saved = download(page, ".item[data-kind='job'] .item-download", tmp_path, "job.zip")
    with zipfile.ZipFile(saved) as zf:
        names = set(zf.namelist())
    assert {"a/one.png", "two.png"} <= names
    shot(page, "website-rejected-and-job")

    # A folder (picked; a dropped one takes the same path) is one job, its tree kept.
    folder = tmp_path / "shoot"
    (folder / "sub").mkdir(parents=True)
    write(folder / "sub", "a.png", disc_png(70, 50))
    write(folder, "b.png", disc_png(60, 50))
    write(folder, "notes.txt", b"not an image")
    page.set_input_files("#folder-input", str(folder))
    folder_job = page.locator(".item[data-kind='job']", has_text="shoot/")
    expect(folder_job).to_have_attribute("data-state", "done", timeout=30_000)
    assert "1 file skipped" in page.inner_text("#notices")
    saved = download(page, ".item[data-kind='job']:has-text('shoot/') .item-download", tmp_path,
                     "folder.zip")
    with zipfile.ZipFile(saved) as zf:
        assert {"sub/a.png", "b.png"} <= set(zf.namelist())


def test_undecodable_previews_say_so_and_never_show_the_previous_image(page: Any,
                                                                        tmp_path: Path) -> None:
    upload(page, write(tmp_path, "first.png", disc_png(160, 120)))
    wait_settled(page, 1)
    upload(page, write(tmp_path, "scan.tiff", image_bytes("TIFF", 150, 100)))
    wait_settled(page, 2)  # the server decodes TIFF; Chromium cannot show it
    assert page.inner_text("#viewer-name") == "scan.tiff"
    assert not page.is_visible("#before-img")  # no broken icon, no stale picture
    assert page.is_visible("#after-canvas")
    assert box(page, "#stage")["width"] == 150  # framed as the result, not as first.png
    upload(page, write(tmp_path, "corrupt.jpg", b"\xff\xd8\xff\xe0 not really a jpeg"))
    wait_settled(page, 3)
    assert page.inner_text("#viewer-name") == "corrupt.jpg"
    from playwright.sync_api import expect

    expect(page.locator("#stage")).to_be_hidden()
    expect(page.locator("#viewer-error")).to_be_visible()
    shot(page, "website-undecodable")


def test_one_screen_of_work_on_a_desktop(page: Any, tmp_path: Path) -> None:
    files = [write(tmp_path, f"img{i}.png", disc_png(400 + 60 * i, 600)) for i in range(4)]
    files.append(write(tmp_path, "broken.png", b"this is not a png"))
    upload(page, *files)
    wait_settled(page, 5)
    assert page.locator(".item[data-state='error']").count() == 1
    assert "4 of 5 done · 1 failed" in page.inner_text("#queue-summary")
    for selector in ("#stage", "#queue-summary", "#zip-all", "#queue-errors", "#viewer-download"):
        assert in_view(page, selector, DESKTOP), selector
    assert "broken.png" in page.inner_text("#queue-errors")
    page.click("#queue-errors button")  # jumps to the failed one, scrolled into the strip
    failed = box(page, ".item[data-state='error']")
    strip = box(page, "#queue-list")
    assert strip["x"] <= failed["x"]
    assert failed["x"] + failed["width"] <= strip["x"] + strip["width"] + 1
    assert page.evaluate("document.documentElement.scrollHeight") <= DESKTOP["height"] + 1
    page.click(".item:nth-child(2) .item-main")
    page.wait_for_selector("#viewer[data-shown='true']")
    assert in_view(page, "#stage", DESKTOP)

    with page.expect_download() as info:
        page.click("#zip-all")
    saved = tmp_path / "all.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["img0.png", "img1.png", "img2.png", "img3.png"]
        assert Image.open(io.BytesIO(zf.read("img2.png"))).size == (520, 600)
    shot(page, "website-desktop-batch")


def test_phone_layout_has_the_settings_first_and_the_work_on_screen(make_page: Any,
                                                                    tmp_path: Path) -> None:
    page = make_page(PHONE, has_touch=True)
    settings, images = box(page, ".panel"), box(page, "#dropzone")
    assert settings["y"] < images["y"]
    upload(page, write(tmp_path, "m.png", disc_png(300, 400)))
    wait_settled(page, 1)
    assert page.evaluate("document.documentElement.scrollWidth > window.innerWidth") is False
    shot(page, "website-phone")
    assert box(page, ".panel")["y"] < box(page, "#queue")["y"]
    for selector in ("#stage", "#zip-all", "#viewer-download"):
        assert in_view(page, selector, PHONE), selector


def test_accessibility_axe_light_and_dark(page: Any, tmp_path: Path, axe_source: str) -> None:
    upload(page, write(tmp_path, "a.png", disc_png(200, 150)),
           write(tmp_path, "broken.png", b"not an image at all"))
    wait_settled(page, 2)
    page.click(".item:first-child .item-main")
    page.evaluate(axe_source)
    results = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                 .map(v => ({id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))}))""")
        results[scheme] = [v for v in violations if v["impact"] in ("serious", "critical")]
        # The focus ring: at least 3:1 against the surface it is drawn on (WCAG 1.4.11).
        page.focus("#rerun-all")
        ring, surface = page.eval_on_selector(
            "#rerun-all", """el => [getComputedStyle(el).outlineColor,
                                  getComputedStyle(el.closest('.card')).backgroundColor]""")
        assert contrast(ring, surface) >= 3, (scheme, ring, surface)
        shot(page, f"website-{scheme}")
    assert results == {"light": [], "dark": []}


def contrast(a: str, b: str) -> float:
    def lum(css: str) -> float:
        parts = [float(v) / 255 for v in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_per_file_names_focus_and_errors_announced_once(page: Any, tmp_path: Path) -> None:
    page.evaluate("""() => { window.__said = [];
        const el = document.getElementById('announcer');
        new MutationObserver(() => window.__said.push(el.textContent))
          .observe(el, {childList: true, characterData: true, subtree: true}); }""")
    upload(page, write(tmp_path, "one.png", disc_png(90, 60)),
           write(tmp_path, "broken.png", b"not a png"),
           write(tmp_path, "three.png", disc_png(80, 60)))
    wait_settled(page, 3)
    said = page.evaluate("window.__said")
    assert sum("broken.png failed" in s for s in said) == 1, said
    assert page.locator("[role='alert']").count() == 0  # one live region, no duplicates
    broken = page.locator(".item[data-state='error']")
    label = broken.locator(".item-remove").get_attribute("aria-label")
    assert label == "Remove broken.png from the list"
    assert broken.locator(".item-retry").get_attribute("aria-label") == "Retry broken.png"
    assert "Failed" in broken.locator(".item-main").inner_text()  # its name carries the status
    broken.locator(".item-remove").focus()
    page.keyboard.press("Enter")
    assert page.locator(".item").count() == 2
    focused = page.evaluate(
        "document.activeElement.closest('.item')?.querySelector('.item-name').textContent")
    assert focused == "three.png"
    page.focus("#clear-all")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "dropzone"


def test_keyboard_opens_the_file_picker(page: Any) -> None:
    zone = page.locator("#dropzone")
    zone.focus()
    with page.expect_file_chooser(timeout=10_000) as info:
        zone.press("Enter")
    assert info.value.is_multiple()


def test_rerun_keeps_results_per_engine_and_compares_them(page: Any, tmp_path: Path) -> None:
    upload(page, write(tmp_path, "p.png", disc_png(120, 90)))
    wait_settled(page, 1)
    choose(page, "engine", "provider")
    page.select_option("#provider", "removebg")
    assert "watermarked" in page.inner_text("#provider-hint")
    page.click("#rerun-all")
    from playwright.sync_api import expect

    expect(page.locator("#version option")).to_have_count(2, timeout=30_000)
    page.wait_for_selector(".item[data-state='done']")
    assert page.is_visible("#viewer-mocked") and page.is_visible(".item-mocked")
    page.select_option("#compare-with", index=1)
    expect(page.locator("#label-before")).to_have_text("tiny")
    page.click("#side-by-side")  # the two results next to each other, same size
    left, right = box(page, "#before-canvas"), box(page, "#after-canvas")
    assert left["x"] + left["width"] < right["x"] and abs(left["width"] - right["width"]) < 1
    assert right["x"] + right["width"] <= box(page, "#frame")["x"] + box(page, "#frame")["width"]
    shot(page, "website-side-by-side")
    page.click("#side-by-side")
    page.select_option("#version", "0")
    assert not page.is_visible("#viewer-mocked")
    shot(page, "website-compare-versions")


def test_status_pill_rechecks_and_a_key_prompt_keeps_focus(browser: Any,
                                                           module_settings: Settings,
                                                           tmp_path: Path) -> None:
    keyed = module_settings.model_copy(update={"api_keys": "k1", "storage_dir": tmp_path / "s"})
    p = None
    try:
        with live_server(keyed) as url:
            p = Page(browser, url, DESKTOP)
            page = p.open()
            page.wait_for_selector("#key-group:not([hidden])")
            assert page.evaluate("document.activeElement === document.body")
            assert "API key" in page.inner_text("#notices")
        page.wait_for_selector("#status.pill-err", timeout=15_000)
        assert "unreachable" in page.inner_text("#status")
    finally:
        if p is not None:
            p.context.close()
            assert p.errors == []
