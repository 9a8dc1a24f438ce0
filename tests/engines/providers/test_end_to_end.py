"""Environment -> Settings -> EngineCache -> Remover -> real client -> fake provider, and back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgbye.engines import EngineCache
from bgbye.postprocess import RemoveOptions
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests.fakes import PROVIDERS, ellipse_alpha, running_fake

Photo = tuple[np.ndarray, bytes]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_remover_returns_the_fakes_alpha(provider: str, settings: Settings, photo: Photo,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, data = photo
    with running_fake(provider) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        env_settings = Settings(model_dir=settings.model_dir, extra_model_dirs=[],
                                default_model="tiny", storage_dir=settings.storage_dir)
        remover = Remover(EngineCache(env_settings).get(provider), env_settings)
        mask = remover.remove_bytes(data, RemoveOptions(mask_only=True))
        cut = remover.remove_bytes(data)
        assert len(fake.requests) == 2
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(mask.data))),
                                  ellipse_alpha(96, 72))
    rgba = np.asarray(Image.open(io.BytesIO(cut.data)))
    np.testing.assert_array_equal(rgba[:, :, 3], ellipse_alpha(96, 72))
    assert cut.info["provider"] == provider and not cut.info.get("mocked")
    assert "mocked" not in cut.engine
