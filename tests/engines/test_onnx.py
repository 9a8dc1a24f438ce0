from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgbye.engines import EngineCache, HeuristicEngine, OnnxEngine
from bgbye.engines.onnx import decode_output, input_size, preprocess
from bgbye.models.registry import bundled_specs
from bgbye.models.spec import ModelSpec
from bgbye.settings import Settings
from tests.conftest import make_image


def test_tiny_model_alpha_follows_brightness(settings: Settings) -> None:
    engine = EngineCache(settings).get("tiny")
    assert isinstance(engine, OnnxEngine)
    rgb = make_image(80, 60)
    alpha = engine.predict(rgb).alpha
    assert alpha.shape == (60, 80) and alpha.dtype == np.uint8
    assert alpha[30, 40] > 150 > 30 > alpha[1, 1]  # bright disc in, dark background out


def test_cache_loads_each_engine_once(settings: Settings) -> None:
    cache = EngineCache(settings)
    assert cache.get("tiny") is cache.get(None) is cache.get("tiny")
    assert isinstance(cache.get("heuristic"), HeuristicEngine)
    assert cache.get("heuristic") is cache.get("heuristic")


def test_input_size_policies() -> None:
    modnet = bundled_specs()["modnet"]
    assert input_size(modnet, 1000, 500) == (1024, 512)
    assert input_size(modnet, 333, 999) == (512, 1536)
    assert input_size(bundled_specs()["u2netp"], 1000, 10) == (320, 320)
    anysize = ModelSpec(name="x", input={"resize": "any", "multiple": 32})
    assert input_size(anysize, 100, 70) == (96, 64)


def test_u2netp_preprocessing_divides_by_max_then_imagenet() -> None:
    spec = bundled_specs()["u2netp"]
    rgb = np.full((320, 320, 3), 100, np.uint8)
    x = preprocess(spec, rgb)
    assert x.shape == (1, 3, 320, 320)
    expected = (1.0 - 0.485) / 0.229  # 100/max(100) = 1
    assert np.allclose(x[0, 0], expected, atol=1e-5)


def test_decode_output_logits_and_minmax() -> None:
    spec = ModelSpec(name="x", output={"kind": "logits"})
    out = np.zeros((1, 1, 4, 4), np.float32)
    out[0, 0, 0, 0] = 50
    alpha = decode_output(spec, out, 4, 4)
    assert alpha[0, 0] == 255 and alpha[1, 1] == 127
    spec2 = ModelSpec(name="y", output={"normalize": "minmax"})
    alpha2 = decode_output(
        spec2, np.linspace(0.2, 0.4, 16, dtype=np.float32).reshape(1, 1, 4, 4), 8, 8
    )
    assert alpha2.shape == (8, 8) and alpha2.min() <= 2 and alpha2.max() >= 250


def test_heuristic_finds_a_centred_subject() -> None:
    rgb = make_image(120, 90)
    alpha = HeuristicEngine().predict(rgb).alpha
    assert alpha.shape == (90, 120)
    assert alpha[45, 60] > 200 and alpha[2, 2] < 50
    tiny = HeuristicEngine().predict(np.zeros((3, 3, 3), np.uint8)).alpha
    assert tiny.shape == (3, 3)


@pytest.mark.slow
def test_modnet_produces_soft_portrait_alpha(tmp_path: Path, real_data: Path) -> None:
    from bgbye.errors import FetchError
    from bgbye.imageio import read_rgb
    from bgbye.models.fetch import fetch
    from tests.conftest import CACHE_MODELS

    spec = bundled_specs()["modnet"]
    try:
        path = fetch(spec, CACHE_MODELS, timeout=3)
    except FetchError as exc:
        pytest.skip(str(exc))
    engine = OnnxEngine(spec, path, threads=2)
    img = sorted((real_data / "ccp_person" / "images").glob("*.jpg"))[0]
    rgb = read_rgb(str(img))
    alpha = engine.predict(rgb).alpha
    gt = (
        np.asarray(
            __import__("PIL.Image", fromlist=["Image"]).open(
                real_data / "ccp_person" / "masks" / f"{img.stem}.png"
            )
        )
        > 127
    )
    mae = np.abs(alpha / 255.0 - gt).mean()
    assert alpha.shape == rgb.shape[:2] and mae < 0.1
