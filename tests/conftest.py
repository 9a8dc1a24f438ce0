"""Shared fixtures: settings isolated per test, a tiny ONNX model, the real u2netp, images."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from bgbye.settings import Settings

if TYPE_CHECKING:
    from tests.server.postgres import PostgresCluster

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
CACHE_MODELS = Path(
    os.environ.get("BGBYE_TEST_MODEL_CACHE", Path.home() / ".cache" / "bgbye" / "models")
)


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    from tests.model_fixtures import write_tiny_model

    folder = tmp_path / "models"
    write_tiny_model(folder)
    return folder


def isolated_settings(model_dir: Path, default_model: str, tmp_path: Path) -> Settings:
    """Settings that see only ``model_dir`` and a temp storage folder, nothing of the user's."""
    return Settings(
        model_dir=model_dir,
        extra_model_dirs=[],
        default_model=default_model,
        storage_dir=tmp_path / "storage",
        threads=1,
        pushgateway_url=None,
    )


@pytest.fixture
def settings(tmp_path: Path, tiny_model_dir: Path) -> Settings:
    """The tiny model is the default."""
    return isolated_settings(tiny_model_dir, "tiny", tmp_path)


@pytest.fixture(scope="session")
def u2netp_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real u2netp weights, fetched through bgbye's own fetch (cached between runs)."""
    from bgbye.errors import FetchError
    from bgbye.models.fetch import fetch
    from bgbye.models.registry import bundled_specs

    spec = bundled_specs()["u2netp"]
    try:
        return fetch(spec, CACHE_MODELS, timeout=3)
    except FetchError as exc:
        pytest.skip(f"u2netp not obtainable here: {exc}")


@pytest.fixture
def u2netp_settings(tmp_path: Path, u2netp_path: Path) -> Settings:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(u2netp_path, folder / "u2netp.onnx")
    return isolated_settings(folder, "u2netp", tmp_path)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real is absent")
    return REAL_DATA


def make_image(width: int = 64, height: int = 48, *, seed: int = 0) -> np.ndarray:
    """A synthetic photo: a bright disc (the subject) on a dark noisy background."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    disc = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (min(width, height) / 3) ** 2
    img[disc] = (220, 180, 90)
    return img


def image_bytes(fmt: str = "PNG", width: int = 64, height: int = 48, **save: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(make_image(width, height)).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.fixture
def png_bytes() -> bytes:
    return image_bytes("PNG")


@pytest.fixture
def jpeg_bytes() -> bytes:
    return image_bytes("JPEG", quality=90)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One real PostgreSQL for the session; tests take a fresh database each (``new_database``)."""
    from tests.server.postgres import postgres_cluster

    with postgres_cluster() as cluster:
        yield cluster
