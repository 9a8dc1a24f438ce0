"""Fixtures for the reliability suite: one long-lived app per module (a server that must stay
up across every hostile request), and the tiny model as a folder for subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bgbye.server.app import create_app
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.model_fixtures import write_tiny_model

# Small limits make every limit reachable with small test files.
MAX_UPLOAD = 2 * 1024 * 1024
MAX_PIXELS = 4_000_000
MAX_FILES = 8


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    write_tiny_model(folder)
    return folder


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Settings:
    return Settings(model_dir=model_dir, extra_model_dirs=[], default_model="tiny",
                    storage_dir=tmp_path_factory.mktemp("server") / "storage", threads=1,
                    pushgateway_url=None, max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS,
                    max_batch_files=MAX_FILES)


@pytest.fixture(scope="module")
def shared_client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the whole module, so "the server stays up" spans every attack."""
    with TestClient(create_app(module_settings)) as client:
        yield client


def assert_alive(client: TestClient) -> None:
    """After an attack, an ordinary request still succeeds."""
    r = client.post("/v1/remove", files={"image": ("ok.png", image_bytes("PNG"), "image/png")})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
