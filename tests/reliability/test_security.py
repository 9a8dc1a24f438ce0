"""Security: API keys (constant-time, never logged), CORS, security headers, no stack traces,
provider keys never echoed, stored files expire, no temporary files left behind."""

from __future__ import annotations

import ast
import inspect
import logging
import os
import re
import textwrap
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bgbye.server import deps
from bgbye.server.app import create_app
from bgbye.server.jobs import job_prefix
from bgbye.settings import Settings
from tests import hostile
from tests.conftest import image_bytes
from tests.fakes import running_fake
from tests.server.conftest import FakeEngine, assert_error, backend_of, inject

API_KEY = "rel-api-key-7f3a9c1e5b2d4f60"


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    settings.api_keys = f"another-key,{API_KEY}"
    with TestClient(create_app(settings)) as client:
        yield client


def test_api_keys_are_compared_in_constant_time() -> None:
    """The only comparison of the given key is hmac.compare_digest, over every key (no early
    exit that would reveal which key matched, or how much of one)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(deps.require_api_key)))
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert "hmac.compare_digest" in calls
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    for node in compares:  # only "if not keys" style checks, never given == key / given in keys
        names = {ast.unparse(x) for x in [node.left, *node.comparators]}
        assert not names & {"given", "key", "keys"}, ast.unparse(node)
    assert not any(isinstance(n, ast.Break | ast.Return) for loop in ast.walk(tree)
                   if isinstance(loop, ast.For) for n in ast.walk(loop))


@pytest.mark.parametrize("given", ["", "wrong", API_KEY[:-1], API_KEY + "x", API_KEY.upper(),
                                   " " + API_KEY, "ключ", "x" * 10_000])
def test_wrong_keys_are_401(keyed: TestClient, given: str) -> None:
    headers = {b"X-API-Key": given.encode("utf-8")} if given else {}
    r = keyed.post("/v1/remove", headers=headers,
                   files={"image": ("a.png", image_bytes("PNG"), "image/png")})
    assert_error(r, 401, "unauthorized")
    assert API_KEY not in r.text


def test_keys_never_logged_even_on_errors(keyed: TestClient,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ok = {"X-API-Key": API_KEY}
    inject(keyed, "boom", FakeEngine("boom", fail=RuntimeError("kaboom")))
    calls = [
        keyed.post("/v1/remove", headers=ok, files={"image": ("a.png", image_bytes("PNG"),
                                                               "image/png")}),
        keyed.post("/v1/remove", headers=ok, files={"image": ("a.jpg", hostile.TEXT_AS_JPG,
                                                               "image/jpeg")}),
        keyed.post("/v1/remove", headers={"X-API-Key": API_KEY + "-wrong"}),
        keyed.post("/v1/jobs", headers=ok, files={"images": ("a.png", image_bytes("PNG"),
                                                              "image/png")}),
        keyed.get("/v1/models", headers=ok),
        keyed.get("/metrics", headers=ok),
    ]
    backend_of(keyed).engines.registry  # noqa: B018 - the app is up
    assert [r.status_code for r in calls] == [200, 415, 401, 202, 200, 200]
    assert API_KEY not in caplog.text
    for r in calls:
        assert API_KEY not in r.text


def test_cors_closed_for_a_foreign_origin(keyed: TestClient) -> None:
    for method, path in [("options", "/v1/remove"), ("options", "/process/local"),
                         ("options", "/v1/jobs")]:
        r = getattr(keyed, method)(path, headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key"})
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
    r = keyed.post("/v1/remove", headers={"Origin": "https://evil.example", "X-API-Key": API_KEY},
                   files={"image": ("a.png", image_bytes("PNG"), "image/png")})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("path", ["/", "/assets/app.js", "/healthz", "/v1/nope"])
def test_security_headers(keyed: TestClient, path: str) -> None:
    r = keyed.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_website_has_no_inline_script() -> None:
    """The CSP forbids inline scripts: the page must not rely on any."""
    from bgbye.server.routes.ui import STATIC_DIR

    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script has a src
    assert not re.search(r"\son[a-z]+\s*=", html)  # no onclick= style handlers


def test_no_stack_trace_in_error_bodies(settings: Settings,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception inside the engine: a generic 500 for the client, the detail in
    the server log only."""
    settings.api_keys = API_KEY
    with TestClient(create_app(settings), raise_server_exceptions=False) as keyed:
        _no_stack_traces(keyed, caplog)


def _no_stack_traces(keyed: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    secret = "/srv/internal/path/engine.py line 42 SECRET-DETAIL"
    inject(keyed, "tiny", FakeEngine("tiny", fail=RuntimeError(secret)))
    ok = {"X-API-Key": API_KEY}
    png = image_bytes("PNG")
    for path in ("/v1/remove", "/process/local"):
        r = keyed.post(path, headers=ok, files={"image": ("a.png", png, "image/png")})
        error = assert_error(r, 500, "internal_error")
        assert secret not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
        assert "server log" in error["message"]
    r = keyed.post("/v1/jobs", headers=ok, files={"images": ("a.png", png, "image/png")})
    job_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while (job := keyed.get(f"/v1/jobs/{job_id}", headers=ok).json())["state"] not in (
            "done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job["state"] == "failed"
    assert secret not in str(job) and "Traceback" not in str(job)
    assert secret in caplog.text  # the operator still sees what happened


def test_provider_keys_never_echoed(settings: Settings,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_fake("removebg") as fake:
        for name, value in fake.settings_kwargs().items():
            setattr(settings, name, value)
        with TestClient(create_app(settings)) as client:
            texts = []
            for mode in ("ok", "402", "500", "garbage"):
                fake.set_mode(mode)
                r = client.post("/v1/remove", data={"provider": "removebg"}, headers={
                    "Accept": "application/json"}, files={"image": ("a.png", image_bytes("PNG"),
                                                                    "image/png")})
                assert r.status_code == (200 if mode == "ok" else r.status_code)
                texts.append(r.text + str(r.headers))
            texts.append(client.get("/v1/models").text)
            texts.append(client.get("/metrics").text)
            assert client.get("/v1/models").json()["providers"][0]["configured"] is True
        assert fake.requests and fake.requests[0].header("x-api-key") == fake.key
        for text in texts:
            assert fake.key not in text
        assert fake.key not in caplog.text


def test_stored_files_expire(settings: Settings) -> None:
    settings.result_ttl_seconds = 60
    with TestClient(create_app(settings)) as client:
        backend = backend_of(client)
        made = client.post("/process/local", files={"image": ("a.png", image_bytes("PNG"),
                                                              "image/png")}).json()
        assert client.get(made["after"]).status_code == 200
        r = client.post("/v1/jobs", files={"images": ("a.png", image_bytes("PNG"), "image/png")})
        job_id = r.json()["id"]
        while client.get(f"/v1/jobs/{job_id}").json()["state"] not in ("done", "failed"):
            time.sleep(0.05)
        old = time.time() - 3600
        for kind, url in (("uploads", made["before"]), ("results", made["after"])):
            path = settings.storage_dir / kind / url.rsplit("/", 1)[1]
            os.utime(path, (old, old))
        assert_error(client.get(made["after"]), 404)  # expired on read, and deleted
        assert not (settings.storage_dir / "results" / made["after"].rsplit("/", 1)[1]).exists()
        with backend.jobs.store.transaction() as tx:
            tx.execute("UPDATE jobs SET finished = ? WHERE id = ?", (old, job_id))
        assert backend.sweep() >= 2  # the upload file and the job
        assert not list((settings.storage_dir / "uploads").iterdir())
        assert not (settings.storage_dir / job_prefix(job_id)).exists()
        assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "expired"
        assert_error(client.get(f"/v1/jobs/{job_id}/result"), 410, "expired")


def test_no_temporary_files_left(settings: Settings) -> None:
    """After good and bad requests and a finished job, storage holds only results: no .part
    files, no job inputs; a temp file left by a killed writer is swept."""
    with TestClient(create_app(settings)) as client:
        png = image_bytes("PNG")
        for data in (png, hostile.truncated_jpeg(), b"", hostile.png_bomb_header()):
            client.post("/process/local", files={"image": ("a.png", data, "image/png")})
            client.post("/v1/remove", files={"image": ("a.png", data, "image/png")})
        r = client.post("/v1/jobs", files=[("images", ("a.png", png, "image/png")),
                                           ("images", ("b.jpg", hostile.truncated_jpeg(),
                                                       "image/jpeg"))])
        job_id = r.json()["id"]
        while client.get(f"/v1/jobs/{job_id}").json()["state"] not in ("done", "failed"):
            time.sleep(0.05)
        storage = settings.storage_dir
        leftovers = [p for p in storage.rglob("*") if p.is_file() and p.name.endswith(".part")]
        assert leftovers == []
        assert list((storage / "jobs" / job_id / "in").iterdir()) == []
        stale = storage / "results" / ".AAAAAAAAAAAAAAAAAAAAAA.png.x1.part"
        stale.write_bytes(b"half")
        os.utime(stale, (time.time() - 120, time.time() - 120))
        backend_of(client).sweep()
        assert not stale.exists()

