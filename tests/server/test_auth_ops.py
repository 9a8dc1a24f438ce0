"""API keys, CORS, health/readiness, metrics, OpenAPI, plain 404/405, the website."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from bgbye.server.app import create_app
from bgbye.settings import Settings
from tests.server.conftest import assert_error

KEY = "s3cret-key-for-tests"


@pytest.fixture
def keyed(settings: Settings) -> TestClient:
    settings.api_keys = f"other-key, {KEY}"
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/v1/remove"), ("post", "/v1/jobs"), ("get", "/v1/models"),
    ("get", "/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA"), ("post", "/process/local"),
    ("post", "/process/api"),
])
def test_api_key_required(keyed: TestClient, method: str, path: str) -> None:
    assert_error(getattr(keyed, method)(path), 401, "unauthorized")
    assert_error(getattr(keyed, method)(path, headers={"X-API-Key": "wrong"}), 401)


def test_right_key_works_and_is_never_logged(keyed: TestClient, png_bytes: bytes,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = keyed.post("/v1/remove", headers={"X-API-Key": KEY},
                   files={"image": ("a.png", png_bytes, "image/png")})
    assert r.status_code == 200
    assert keyed.get("/v1/models", headers={"X-API-Key": "other-key"}).status_code == 200
    assert KEY not in caplog.text


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/metrics", "/docs",
                                  "/openapi.json", "/assets/app.js"])
def test_public_paths_need_no_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_cors_is_closed_by_default(client: TestClient) -> None:
    r = client.options("/v1/remove", headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json() == {"status": "ready", "model": "tiny"}


def test_not_ready_when_the_default_model_is_missing(settings: Settings, png_bytes: bytes) -> None:
    settings.default_model = "u2netp"  # known, but not fetched into the test model dir
    with TestClient(create_app(settings)) as client:
        err = assert_error(client.get("/readyz"), 503, "not_ready")
        assert "bgbye models fetch u2netp" in err["message"]
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200  # the website still explains the problem
        assert_error(client.post("/v1/remove", files={"image": ("a.png", png_bytes)}), 503,
                     "model_not_available")


def test_models_lists_local_models_and_providers(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["default"] == "tiny"
    tiny = next(m for m in body["models"] if m["name"] == "tiny")
    assert tiny["available"] and tiny["loaded"] and tiny["default"]
    assert {p["name"] for p in body["providers"]} == {"removebg", "clipdrop", "photoroom"}
    assert all(p["configured"] is False for p in body["providers"])


def test_metrics_use_route_templates(client: TestClient, png_bytes: bytes) -> None:
    client.post("/v1/remove", files={"image": ("a.png", png_bytes, "image/png")})
    client.get("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA")
    client.post("/v1/remove", files={"image": ("a.png", b"junk", "image/png")})
    text = client.get("/metrics").text
    assert 'bgbye_http_requests_total{method="POST",route="/v1/remove",status="200"}' in text
    assert 'route="/v1/jobs/{job_id}",status="404"' in text
    assert "AAAAAAAAAAAAAAAAAAAAAA" not in text
    assert 'bgbye_errors_total{code="invalid_image"}' in text
    assert 'bgbye_inference_duration_seconds_count{engine="tiny"}' in text
    assert 'bgbye_images_processed_total{engine="tiny",outcome="ok"}' in text
    assert "bgbye_queue_depth 0.0" in text
    assert "bgbye_input_bytes_total" in text and "bgbye_output_bytes_total" in text


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/v1/remove", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result",
                 "/v1/models", "/process/local", "/process/api", "/healthz", "/readyz"]:
        assert path in paths
    assert "/" not in paths  # the website is not an API
    assert "swagger" in client.get("/docs").text.lower()


def test_framework_errors_are_json(client: TestClient) -> None:
    assert_error(client.get("/no/such/page"), 404, "not_found")
    assert_error(client.get("/assets/missing.js"), 404, "not_found")
    assert_error(client.delete("/v1/models"), 405, "method_not_allowed")
    assert_error(client.get("/v1/remove"), 405, "method_not_allowed")
    assert_error(client.post("/v1/remove", content=b"{}",
                             headers={"content-type": "application/json"}), 400)


def test_website_is_self_contained(client: TestClient) -> None:
    html = client.get("/").text
    assert "<title>bgbye" in html
    for asset in ["/assets/app.css", "/assets/app.js", "/assets/zip.js", "/assets/favicon.svg"]:
        assert asset in html
        assert client.get(asset).status_code == 200
    # Nothing is loaded from the internet.
    for text in [html, client.get("/assets/app.css").text, client.get("/assets/app.js").text]:
        assert "http://" not in text and "https://" not in text
