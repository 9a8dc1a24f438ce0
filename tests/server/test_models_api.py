"""GET /v1/models shows the catalogue's facts; a non-commercial model is gated and labelled."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bgbye.models.registry import bundled_specs
from bgbye.server.app import create_app
from tests.conftest import isolated_settings
from tests.models.probes import build_probe


def _client(tmp_path: Path, accept: str = "") -> TestClient:
    models = tmp_path / "models"
    build_probe(bundled_specs()["bria-rmbg"], models / "bria-rmbg.onnx")
    settings = isolated_settings(models, "bria-rmbg", tmp_path)
    settings.accept_licenses = accept
    return TestClient(create_app(settings))


def test_models_lists_licence_size_task_downloaded(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        rows = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(bundled_specs()) <= set(rows)
    bria = rows["bria-rmbg"]
    assert bria["license"] == "CC-BY-NC-4.0" and bria["non_commercial"]
    assert bria["downloaded"] and not bria["license_accepted"] and bria["size"] == "~1024 MB"
    assert rows["u2net_cloth_seg"]["classes"] == ["upper", "lower", "full", "all"]
    assert all("path" not in row for row in rows.values())  # no server folders in the API
    assert (
        rows["birefnet-general"]["task"] == "salient" and not rows["birefnet-general"]["downloaded"]
    )


def test_bria_refused_then_labelled(tmp_path: Path, png_bytes: bytes) -> None:
    files = {"image": ("a.png", png_bytes, "image/png")}
    with _client(tmp_path / "a") as client:
        res = client.post("/v1/remove", files=files, data={"model": "bria-rmbg"})
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "license_not_accepted"
    with _client(tmp_path / "b", accept="bria-rmbg") as client:
        res = client.post("/v1/remove", files=files, data={"model": "bria-rmbg"})
        assert res.status_code == 200
        assert "non-commercial" in res.headers["X-Bgbye-License"]
        body = client.post(
            "/v1/remove",
            files=files,
            data={"model": "bria-rmbg"},
            headers={"Accept": "application/json"},
        ).json()
    assert body["info"]["license"] == "CC-BY-NC-4.0"


def test_class_by_model_ref_and_close_matches(tmp_path: Path, png_bytes: bytes) -> None:
    models = tmp_path / "models"
    build_probe(bundled_specs()["u2net_cloth_seg"], models / "u2net_cloth_seg.onnx")
    settings = isolated_settings(models, "u2net_cloth_seg", tmp_path)
    files = {"image": ("a.png", png_bytes, "image/png")}
    with TestClient(create_app(settings)) as client:
        res = client.post("/v1/remove", files=files, data={"model": "u2net_cloth_seg:lower"})
        assert (
            res.status_code == 200
            and res.headers["X-Bgbye-Engine"] == "u2net_cloth_seg:lower (ONNX)"
        )
        res = client.post("/v1/remove", files=files, data={"model": "u2net_cloth_seg:hat"})
        assert (
            res.status_code == 422 and "upper, lower, full, all" in res.json()["error"]["message"]
        )
        res = client.post("/v1/remove", files=files, data={"model": "u2net-cloth-seg"})
        assert res.status_code == 404 and "Did you mean u2net_cloth_seg" in res.text
