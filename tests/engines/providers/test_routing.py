"""Provider refs and fallback lists (``removebg,local``) through EngineCache and build()."""

from __future__ import annotations

import numpy as np
import pytest

from bgbye.engines import EngineCache
from bgbye.engines.providers import build, canonical, is_provider_ref, split_ref
from bgbye.engines.providers.fallback import FallbackEngine
from bgbye.engines.providers.mocked import MockedProviderEngine
from bgbye.engines.providers.removebg import RemoveBgClient
from bgbye.errors import ProviderError, UnknownModelError
from bgbye.settings import Settings
from tests.fakes import configured, ellipse_alpha, running_fake

Photo = tuple[np.ndarray, bytes]


def test_ref_parsing() -> None:
    assert canonical(" Remove.BG ") == "removebg"
    assert split_ref("remove.bg, Local ,models/Mine.onnx") == ["removebg", "local",
                                                                "models/Mine.onnx"]
    assert is_provider_ref("clipdrop") and is_provider_ref("u2netp,photoroom")
    assert not is_provider_ref("u2netp") and not is_provider_ref("local")


def test_single_provider_with_key_is_the_real_client(settings: Settings) -> None:
    keyed = settings.model_copy(update={"provider_keys": {"removebg": "k"}})
    engine = EngineCache(keyed).get("remove.bg")
    assert isinstance(engine, RemoveBgClient)
    assert engine.base_url == "https://api.remove.bg/v1.0"


def test_fallback_answers_with_the_first_that_works(settings: Settings, photo: Photo) -> None:
    rgb, data = photo
    with running_fake("removebg") as fake:
        engine = EngineCache(configured(settings, fake)).get(
            "removebg,local")
        assert isinstance(engine, FallbackEngine)
        pred = engine.predict(rgb, source=data)
    assert pred.info["answered_by"] == "removebg"
    assert pred.info["fallback_errors"] == []
    np.testing.assert_array_equal(pred.alpha, ellipse_alpha(96, 72))


def test_fallback_to_local_says_why(settings: Settings, photo: Photo) -> None:
    rgb, data = photo
    cache = EngineCache(settings)
    local = cache.get(None).predict(rgb).alpha
    with running_fake("removebg", mode="402") as fake:
        cache = EngineCache(configured(settings, fake))
        pred = cache.get("removebg,local").predict(rgb, source=data)
    assert pred.info["answered_by"] == "local"
    assert pred.info["label"] == cache.get(None).label
    [failure] = pred.info["fallback_errors"]
    assert failure["engine"] == "removebg"
    assert failure["code"] == "provider_out_of_credits"
    assert "out of credits" in failure["message"]
    assert not pred.info.get("mocked")
    np.testing.assert_array_equal(pred.alpha, local)


def test_provider_without_key_is_skipped_for_a_real_one(settings: Settings, photo: Photo) -> None:
    rgb, data = photo
    with running_fake("clipdrop") as fake:
        engine = EngineCache(configured(settings, fake)).get(
            "removebg,clipdrop")
        pred = engine.predict(rgb, source=data)
    assert pred.info["answered_by"] == "clipdrop"
    assert pred.info["fallback_errors"] == [{"engine": "removebg",
                                             "code": "provider_not_configured",
                                             "message": "REMOVE_BG_API_KEY is not set"}]


def test_all_without_keys_falls_back_to_the_mocked_result(settings: Settings,
                                                          photo: Photo) -> None:
    rgb, data = photo
    pred = EngineCache(settings).get("removebg,clipdrop").predict(rgb, source=data)
    assert pred.info["mocked"] is True
    assert pred.info["answered_by"] == "removebg"
    assert "mocked" in pred.info["label"]
    assert len(pred.info["fallback_errors"]) == 2


def test_when_every_entry_fails_all_reasons_are_given(settings: Settings, photo: Photo) -> None:
    rgb, data = photo
    with running_fake("removebg", mode="402") as rb, running_fake("photoroom") as pr:
        engine = EngineCache(configured(settings, rb, pr, photoroom="bad")).get(
            "removebg,photoroom")
        with pytest.raises(ProviderError) as info:
            engine.predict(rgb, source=data)
    err = info.value
    assert "No engine in 'removebg,photoroom' answered" in err.message
    assert "removebg: remove.bg account is out of credits" in err.message
    assert "photoroom: Photoroom refused the API key" in err.message
    assert (err.code, err.http_status) == ("provider_auth_failed", 502)  # the last failure's


def test_lists_may_name_models_and_reject_nonsense(settings: Settings) -> None:
    cache = EngineCache(settings)
    engine = cache.get("removebg,tiny")
    assert isinstance(engine, FallbackEngine)
    assert [ref for ref, _ in engine.entries] == ["removebg", "tiny"]
    assert isinstance(engine.entries[0][1], MockedProviderEngine)
    with pytest.raises(UnknownModelError):
        cache.get("removebg,no-such-model")
    with pytest.raises(UnknownModelError, match="twice"):
        build("removebg,remove.bg", settings, cache)
    with pytest.raises(UnknownModelError):
        build(" , ", settings, cache)
