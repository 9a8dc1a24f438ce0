"""Kedro configuration: `--env test` never touches the checkout's data/; the model is versioned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bgbye_pipelines.conf_fixtures import CONF, env_parameters

DATA = CONF.parent / "data"


def _catalog(env: str) -> dict[str, Any]:
    from kedro.config import OmegaConfigLoader

    from bgbye_pipelines.settings import CONFIG_LOADER_ARGS

    return dict(OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)["catalog"])


def _paths(tree: Any) -> list[str]:
    """Every string value of a key that names a file or folder."""
    found: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str) and (key in ("filepath", "path", "manifest")
                                           or key.endswith("_dir")):
                found.append(value)
            else:
                found += _paths(value)
    elif isinstance(tree, list):
        for item in tree:
            found += _paths(item)
    return found


def test_the_test_env_writes_under_a_temporary_data_root(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    from bgbye_pipelines.data_root import ENV_VAR, temp_data_root

    monkeypatch.delenv(ENV_VAR, raising=False)
    temp_data_root.cache_clear()
    paths = _paths(_catalog("test")) + _paths(env_parameters("test"))
    assert len(paths) > 20
    root = Path(temp_data_root())
    assert not root.is_relative_to(CONF.parent) and root.name.startswith("bgbye-kedro-")
    for path in paths:
        assert Path(path).is_relative_to(root), path
        assert not Path(path).resolve().is_relative_to(DATA.resolve()), path
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "chosen"))
    temp_data_root.cache_clear()
    assert _catalog("test")["raw_pairs"]["filepath"].startswith(str(tmp_path / "chosen"))
    temp_data_root.cache_clear()


def test_base_keeps_data_and_versions_the_exported_model() -> None:
    catalog = _catalog("base")
    assert catalog["model_input_manifest"]["filepath"] == "data/05_model_input/manifest.parquet"
    assert catalog["trained_model"]["versioned"] is True
    assert catalog["model_checkpoint"]["type"].endswith("TorchStateDataset")
    params = env_parameters("shared_u2netp")["model_training"]
    assert params["output_dir"] == "data/06_models" and params["name"] == "bgbye-u2netp"


@pytest.mark.parametrize("env", ["base", "test", "shared", "shared_u2netp"])
def test_the_image_folders_are_catalog_entries_where_the_manifest_says(env: str) -> None:
    """model_input_images/_masks are partitions under params' model_input_dir (whose paths the
    manifest records), and the composites are one catalog entry."""
    catalog = _catalog(env)
    model_input_dir = env_parameters(env)["data_preprocessing"]["model_input_dir"]
    for name, folder in (("model_input_images", "images"), ("model_input_masks", "masks")):
        assert catalog[name]["type"].endswith("ParallelPartitionedDataset")
        assert catalog[name]["dataset"].endswith("ImageFileDataset")
        assert catalog[name]["skip_existing"] is True
        assert catalog[name]["path"] == f"{model_input_dir}/{folder}"
    assert catalog["composited_source"]["type"].endswith("ImageSourceDataset")
