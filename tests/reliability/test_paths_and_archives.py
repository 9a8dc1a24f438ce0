"""Path traversal in URLs, file names and job ids; zip-slip and zip bombs in job uploads;
oversized and malformed multipart bodies."""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.reliability.conftest import MAX_FILES, MAX_UPLOAD, assert_alive
from tests.server.conftest import assert_error

TRAVERSAL_URLS = [
    "/static/uploads/..%2f..%2fjobs.sqlite3",
    "/static/uploads/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/uploads/..%252f..%252fetc%252fpasswd",
    "/static/uploads/..%5c..%5cjobs.sqlite3",
    "/static/results/%2e%2e",
    "/static/results/....//....//etc/passwd",
    "/static/uploads/",
    "/static/results/",
    "/static/uploads/AAAAAAAAAAAAAAAAAAAAAA.png%0a",
    "/static/uploads/AAAAAAAAAAAAAAAAAAAAAA.png%00.txt",
    "/assets/..%2f..%2f..%2fsettings.py",
    "/assets/%2e%2e/%2e%2e/__init__.py",
    "/v1/jobs/..%2f..%2fjobs.sqlite3",
    "/v1/jobs/%2e%2e",
    "/v1/jobs/' OR '1'='1",
    "/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA",
    "/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA%0a",
    "/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA/result",
    "/v1/jobs/" + "A" * 5000,
]


def _secret_markers(storage: Path) -> list[bytes]:
    """Bytes that would show a traversal reached a file it must not: SQLite's header, passwd."""
    return [b"SQLite format 3", b"root:x:0:0", b"import-linter", b"class Settings"]


@pytest.mark.parametrize("url", TRAVERSAL_URLS)
def test_traversal_urls_are_404(shared_client: TestClient, module_settings: Settings,
                                url: str) -> None:
    r = shared_client.get(url)
    assert_error(r, 404)
    for marker in _secret_markers(module_settings.storage_dir):
        assert marker not in r.content


def _raw_get(host: str, port: int, target: str) -> bytes:
    import socket

    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def live_url(module_settings: Settings) -> Iterator[str]:
    from tests.server.live import live_server

    with live_server(module_settings) as url:
        yield url


@pytest.mark.parametrize("target", [
    "/static/uploads/../../jobs.sqlite3",
    "/static/uploads/../../../../../../etc/passwd",
    "/static/results/..\\..\\jobs.sqlite3",
    "/assets/../../../../../../etc/passwd",
    "/assets/../app.py",
    "/v1/jobs/../../jobs.sqlite3",
    "//etc/passwd",
])
def test_raw_dot_segments_over_the_wire(live_url: str, module_settings: Settings,
                                        target: str) -> None:
    """Unnormalised paths sent byte for byte (an HTTP client would clean them first)."""
    port = int(live_url.rsplit(":", 1)[1])
    raw = _raw_get("127.0.0.1", port, target)
    status = int(raw.split(b" ", 2)[1])
    assert status in (400, 404), raw[:300]
    for marker in _secret_markers(module_settings.storage_dir):
        assert marker not in raw


def test_stored_files_only_through_their_ids(shared_client: TestClient) -> None:
    """Ids are random (128 bits), distinct per upload; a near miss or a listing finds nothing."""
    first = shared_client.post("/process/local", files={"image": ("a.png", image_bytes("PNG"),
                                                                  "image/png")}).json()
    second = shared_client.post("/process/local", files={"image": ("a.png", image_bytes("PNG"),
                                                                   "image/png")}).json()
    assert first["after"] != second["after"]
    assert shared_client.get(first["after"]).status_code == 200
    assert shared_client.get(first["after"]).headers["x-content-type-options"] == "nosniff"
    name = first["after"].rsplit("/", 1)[1]
    stem = name.split(".")[0]
    assert len(stem) == 22
    flipped = ("B" if stem[0] != "B" else "C") + stem[1:]
    for url in (f"/static/results/{flipped}.png", f"/static/uploads/{stem}.png.png",
                f"/static/results/{stem.lower()}.png", f"/static/uploads/{stem}.webp"):
        if url.endswith(first["before"].rsplit("/", 1)[1]):
            continue
        assert_error(shared_client.get(url), 404)


@pytest.mark.parametrize("filename", [
    "../../../../tmp/evil.png", "/etc/evil.png", "..\\..\\evil.png", "a/../../evil.png",
    "C:\\Windows\\evil.png", "evil\r\nX-Injected: 1.png", 'q"uote.png', "\x00null.png",
    "é" * 300 + ".png",
])
def test_hostile_upload_filenames(shared_client: TestClient, module_settings: Settings,
                                  filename: str) -> None:
    """The client's file name never chooses a path: not on disk, not in headers."""
    r = shared_client.post("/v1/remove", files={"image": (filename, image_bytes("PNG"),
                                                          "image/png")})
    assert r.status_code == 200, r.text
    assert "X-Injected" not in r.headers
    disposition = r.headers["content-disposition"]
    assert not set(disposition) & set("/\\\r\n\x00"), disposition
    r = shared_client.post("/v1/jobs", files={"images": (filename, image_bytes("PNG"),
                                                         "image/png")})
    assert r.status_code == 202, r.text
    job = _wait(shared_client, r.json()["id"])
    assert job["counts"]["done"] == 1, job
    names = _result_names(shared_client, job["id"])
    _assert_safe_names(names)
    _assert_nothing_escaped(module_settings.storage_dir)


def _wait(client: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


def _result_names(client: TestClient, job_id: str) -> list[str]:
    r = client.get(f"/v1/jobs/{job_id}/result")
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.testzip() is None
    return zf.namelist()


def _assert_safe_names(names: list[str]) -> None:
    for name in names:
        parts = name.split("/")
        assert not name.startswith("/") and "\\" not in name, name
        assert not re.match(r"^[A-Za-z]:", name), name  # no drive letter
        assert ".." not in parts and "\x00" not in name, name


def _assert_nothing_escaped(storage: Path) -> None:
    """Every file lies in the places the server writes: uploads, results, jobs/<id>/, the db."""
    root = storage.parent
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(storage) if storage in path.parents else None
        assert rel is not None, f"a file escaped the storage folder: {path}"
        assert rel.parts[0] in ("uploads", "results", "jobs") or rel.name.startswith(
            "jobs.sqlite3"), path
        if rel.parts[0] == "jobs":
            assert len(rel.parts) >= 3 and rel.parts[2] in ("in", "out", "bg_image"), path


# -- zip-slip and zip bombs -----------------------------------------------------------------------


def _symlink_member(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)  # S_IFLNK: a symlink, as `zip --symlinks` stores it
    info.create_system = 3
    zf.writestr(info, target)


def test_zip_slip_stays_inside(shared_client: TestClient, module_settings: Settings) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ["../../evil1.png", "/etc/evil2.png", "..\\..\\evil3.png",
                     "ok/../../../evil4.png", "C:/evil5.png"]:
            zf.writestr(name, image_bytes("PNG"))
        _symlink_member(zf, "link.png", "/etc/passwd")
        _symlink_member(zf, "dir/link2.png", "../../../../jobs.sqlite3")
    r = shared_client.post("/v1/jobs", files={"images": ("slip.zip", buf.getvalue(),
                                                         "application/zip")})
    assert r.status_code == 202, r.text
    job = _wait(shared_client, r.json()["id"])
    # "..\\..\\evil3.png" is one hidden-looking name to a POSIX reader: skipped as junk.
    assert job["counts"] == {"total": 6, "pending": 0, "done": 4, "failed": 2}, job
    assert {e["error"]["code"] for e in job["errors"]} == {"invalid_image"}  # link text
    names = _result_names(shared_client, job["id"])
    _assert_safe_names(names)
    assert len([n for n in names if n.endswith(".png")]) == 4
    _assert_nothing_escaped(module_settings.storage_dir)
    for marker in (b"root:x:0:0", b"SQLite format 3"):
        assert marker not in shared_client.get(f"/v1/jobs/{job['id']}/result").content


def _zip_with_member(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
        zf.writestr("good.png", image_bytes("PNG"))
    return buf.getvalue()


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite a member's declared uncompressed size (local header and central directory)."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04" + b"")
    while local != -1:
        n = struct.unpack_from("<H", out, local + 26)[0]
        if bytes(out[local + 30:local + 30 + n]) == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central != -1:
        n = struct.unpack_from("<H", out, central + 28)[0]
        if bytes(out[central + 46:central + 46 + n]) == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_zip_bomb_members_are_refused_per_item(shared_client: TestClient) -> None:
    big = b"\0" * (40 * MAX_UPLOAD)  # 80 MB of zeros, ~80 kB deflated
    honest = _zip_with_member("bomb.png", big)
    liar = _lie_about_size(honest, b"bomb.png", 1000)
    assert len(honest) < MAX_UPLOAD
    for data, codes in [(honest, {"image_too_large"}),
                        (liar, {"image_too_large", "invalid_image"})]:
        start = time.perf_counter()
        r = shared_client.post("/v1/jobs", files={"images": ("b.zip", data, "application/zip")})
        assert r.status_code == 202, r.text
        job = _wait(shared_client, r.json()["id"])
        assert job["counts"]["done"] == 1 and job["counts"]["failed"] == 1, job
        assert job["errors"][0]["error"]["code"] in codes
        assert time.perf_counter() - start < 30
    assert_alive(shared_client)


def test_nested_zip_and_too_many_members(shared_client: TestClient) -> None:
    inner = _zip_with_member("a.png", image_bytes("PNG"))
    r = shared_client.post("/v1/jobs", files={"images": ("n.zip", _zip_with_member(
        "inner.zip", inner), "application/zip")})
    job = _wait(shared_client, r.json()["id"])
    assert job["counts"]["failed"] == 1 and job["errors"][0]["error"]["code"] == "invalid_image"

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(10_000):
            zf.writestr(f"{i}.png", b"")
    r = shared_client.post("/v1/jobs", files={"images": ("many.zip", buf.getvalue(),
                                                         "application/zip")})
    assert_error(r, 413, "too_many_files")

    files = [("images", (f"{i}.png", image_bytes("PNG"), "image/png"))
             for i in range(MAX_FILES + 1)]
    assert_error(shared_client.post("/v1/jobs", files=files), 413, "too_many_files")

    r = shared_client.post("/v1/jobs", files={"images": ("c.zip", b"PK\x03\x04" + b"\xff" * 500,
                                                         "application/zip")})
    assert_error(r, 415, "invalid_image")
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("__MACOSX/._a.png", b"junk")
    r = shared_client.post("/v1/jobs", files={"images": ("e.zip", empty.getvalue(),
                                                         "application/zip")})
    assert_error(r, 400, "empty_input")
    assert_alive(shared_client)


# -- oversized and malformed bodies ----------------------------------------------------------------


def test_oversized_body_by_content_length(shared_client: TestClient) -> None:
    body = b"x" * (2 * MAX_UPLOAD + (1 << 20) + 1)
    r = shared_client.post("/v1/remove", content=body, headers={
        "content-type": "multipart/form-data; boundary=zz"})
    assert_error(r, 413, "request_too_large")
    assert_alive(shared_client)


def test_oversized_body_chunked_without_length(shared_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'--zz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(20):
            yield b"\0" * (1 << 20)  # 20 MB, never announced

    for path in ("/v1/remove", "/process/local", "/v1/jobs"):
        r = shared_client.post(path, content=chunks(), headers={
            "content-type": "multipart/form-data; boundary=zz"})
        assert_error(r, 413, "request_too_large")
    assert_alive(shared_client)


def test_too_many_form_fields(shared_client: TestClient) -> None:
    data = {f"f{i}": "x" for i in range(3000)}
    r = shared_client.post("/v1/remove", data=data,
                           files={"image": ("a.png", image_bytes("PNG"), "image/png")})
    assert_error(r, 400)
    assert_alive(shared_client)
