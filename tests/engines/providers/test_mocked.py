"""No API key: the local model's result, flagged mocked and visibly watermarked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgbye.engines import EngineCache
from bgbye.engines.providers.mocked import MockedProviderEngine
from bgbye.postprocess import RemoveOptions
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests.fakes import PROVIDERS

Photo = tuple[np.ndarray, bytes]


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_missing_key_gives_a_labelled_mocked_engine(provider: str, settings: Settings,
                                                    photo: Photo) -> None:
    # An empty key is an unset key.
    cache = EngineCache(settings.model_copy(update={"provider_keys": {"clipdrop": ""}}))
    engine = cache.get(provider)
    assert isinstance(engine, MockedProviderEngine)
    rgb, data = photo
    pred = engine.predict(rgb, source=data)
    assert pred.info["mocked"] is True
    assert pred.info["provider"] == provider
    assert pred.info["label"].endswith("(mocked: no API key; local model result, watermarked)")
    np.testing.assert_array_equal(pred.alpha, cache.get(None).predict(rgb).alpha)


@pytest.mark.parametrize("options", [RemoveOptions(), RemoveOptions(mask_only=True),
                                     RemoveOptions(format="jpg"),
                                     RemoveOptions(bg_color="#3366ff", format="webp")],
                         ids=["rgba", "mask", "jpg", "colour-webp"])
def test_mocked_result_is_watermarked_and_says_so(options: RemoveOptions, settings: Settings,
                                                  photo: Photo) -> None:
    _, data = photo
    cache = EngineCache(settings)
    mocked = Remover(cache.get("removebg"), settings).remove_bytes(data, options)
    local = Remover(cache.get(None), settings).remove_bytes(data, options)
    assert mocked.info["mocked"] is True
    assert "mocked" in mocked.engine and "remove.bg" in mocked.engine
    assert not local.info.get("mocked")
    a, b = _pixels(mocked.data).astype(int), _pixels(local.data).astype(int)
    assert a.shape == b.shape
    changed = np.abs(a - b).max(axis=-1) > 40 if a.ndim == 3 else np.abs(a - b) > 40
    assert changed.mean() > 0.03, "the watermark must be clearly visible"


def test_transparent_output_shows_the_watermark_on_transparent_areas(settings: Settings,
                                                                     photo: Photo) -> None:
    _, data = photo
    cache = EngineCache(settings)
    mocked = _pixels(Remover(cache.get("photoroom"), settings).remove_bytes(data).data)
    local = _pixels(Remover(cache.get(None), settings).remove_bytes(data).data)
    see_through = local[:, :, 3] < 128
    assert see_through.mean() > 0.3
    raised = mocked[:, :, 3][see_through].astype(int) - local[:, :, 3][see_through] > 60
    assert raised.mean() > 0.03
