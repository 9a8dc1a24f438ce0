"""`bgbye models add`: a spec is checked against the graph and the mismatch is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgbye.errors import InvalidSpecError
from bgbye.models.add import add_model, graph_mismatches, load_spec, spec_like
from bgbye.models.fetch import sha256_file
from bgbye.models.registry import Registry, bundled_specs
from bgbye.settings import Settings
from tests.conftest import isolated_settings, make_image
from tests.models.probes import build_probe

SPECS = bundled_specs()


@pytest.fixture
def isnet_probe(tmp_path: Path) -> Path:
    return build_probe(SPECS["isnet-general-use"], tmp_path / "mine.onnx")


def test_like_copies_processing_not_pins() -> None:
    spec = spec_like(SPECS["bria-rmbg"], "mine")
    assert spec.input == SPECS["bria-rmbg"].input and spec.output == SPECS["bria-rmbg"].output
    assert spec.md5 is None and spec.sha256 is None and spec.url is None
    assert spec.license == "unknown" and not spec.non_commercial


def test_added_model_is_usable_by_name(isnet_probe: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    spec = spec_like(SPECS["isnet-general-use"], "mine", "MIT")
    target = add_model(isnet_probe, spec, models, reserved=set(SPECS))
    saved = json.loads(target.with_suffix(".json").read_text())
    assert saved["sha256"] == sha256_file(isnet_probe) and saved["license"] == "MIT"
    assert sorted(p.name for p in models.iterdir()) == ["mine.json", "mine.onnx"]
    settings: Settings = isolated_settings(models, "mine", tmp_path)
    from bgbye.remover import Remover

    alpha = Remover.from_model("mine", settings).remove_array(make_image(50, 40))
    assert alpha.shape == (40, 50) and alpha.max() > alpha.min()
    assert Registry(settings).entries()["mine"].origin == str(models)
    with pytest.raises(InvalidSpecError, match="--force"):
        add_model(isnet_probe, spec, models, reserved=set(SPECS))


@pytest.mark.parametrize(
    ("like", "needle"),
    [
        ("u2netp", "input 'input' is 1024x1024 (W x H) but the spec's input size is 320x320"),
        ("modnet", "fixed at 1024x1024 but the spec resizes 'short_side'"),
        ("u2net_cloth_seg", "output 'output' has 1 channels but the spec's classes use channel 3"),
    ],
)
def test_spec_that_does_not_fit_is_refused_with_the_mismatch(
    isnet_probe: Path, tmp_path: Path, like: str, needle: str
) -> None:
    spec = spec_like(SPECS[like], "mine")
    with pytest.raises(InvalidSpecError) as err:
        add_model(isnet_probe, spec, tmp_path / "models", reserved=set(SPECS))
    assert needle in err.value.message
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def test_output_index_beyond_the_graph(isnet_probe: Path) -> None:
    spec = spec_like(SPECS["isnet-general-use"], "mine")
    spec.output.index = 5
    assert graph_mismatches(spec, isnet_probe) == ["the spec reads output 5 but the graph has 2"]


def test_bad_inputs(isnet_probe: Path, tmp_path: Path) -> None:
    spec = spec_like(SPECS["isnet-general-use"], "u2netp")
    with pytest.raises(InvalidSpecError, match="catalogue model's name"):
        add_model(isnet_probe, spec, tmp_path, reserved=set(SPECS))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(InvalidSpecError, match="not a loadable ONNX model"):
        graph_mismatches(spec, junk)
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"name": "x", "input": {"resize": "sideways"}}))
    with pytest.raises(InvalidSpecError, match=r"input\.resize"):
        load_spec(bad, None)
