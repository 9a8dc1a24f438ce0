"""Settings: the library's defaults depend on nothing around it; the front ends add the cwd's
Kedro models and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgbye.settings import KEDRO_MODELS, Settings, get_settings


def test_library_settings_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BGBYE_EXTRA_MODEL_DIRS", raising=False)
    assert Settings().extra_model_dirs == [] == Settings.defaults().extra_model_dirs
    monkeypatch.setenv("BGBYE_MAX_PIXELS", "123")
    assert Settings().max_pixels == 123 and Settings.defaults().max_pixels == 40_000_000


def test_front_ends_add_the_kedro_models_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BGBYE_EXTRA_MODEL_DIRS", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().extra_model_dirs == [(tmp_path / KEDRO_MODELS).resolve()]
        monkeypatch.setenv("BGBYE_EXTRA_MODEL_DIRS", '["/srv/models"]')
        get_settings.cache_clear()
        assert get_settings().extra_model_dirs == [Path("/srv/models")]
        monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
        get_settings.cache_clear()
        assert get_settings().ray_address == "ray://head:10001"
    finally:
        get_settings.cache_clear()
