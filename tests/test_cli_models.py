"""`bgbye models ...` end to end through click, with an isolated model directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgbye import settings as settings_mod
from bgbye.cli import cli
from bgbye.models.registry import bundled_specs
from tests.models.probes import build_probe


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BGBYE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("BGBYE_EXTRA_MODEL_DIRS", "[]")
    monkeypatch.delenv("BGBYE_ACCEPT_LICENSES", raising=False)
    settings_mod.get_settings.cache_clear()
    yield CliRunner()
    settings_mod.get_settings.cache_clear()


def test_list_shows_the_whole_catalogue_with_licences(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert set(bundled_specs()) == set(rows)
    assert rows["bria-rmbg"]["license"] == "CC-BY-NC-4.0" and rows["bria-rmbg"]["non_commercial"]
    assert rows["birefnet-general"]["task"] == "salient" and not rows["u2net"]["downloaded"]
    text = runner.invoke(cli, ["models", "list"]).output
    assert "CC-BY-NC-4.0*" in text and "--accept-license" in text and "~973 MB" in text


def test_fetch_refuses_bria_without_acceptance(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["models", "fetch", "-q", "bria-rmbg"])
    assert res.exit_code == 1 and "--accept-license bria-rmbg" in res.output


def test_fetch_unknown_name_lists_close_matches(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["models", "fetch", "birefnet-generl"])
    assert res.exit_code == 2 and "Did you mean birefnet-general" in res.output


def test_add_then_list_and_remove(runner: CliRunner, tmp_path: Path) -> None:
    probe = build_probe(bundled_specs()["birefnet-general-lite"], tmp_path / "my-net.onnx")
    res = runner.invoke(cli, ["models", "add", str(probe), "--like", "birefnet-general-lite"])
    assert res.exit_code == 0, res.output
    rows = {
        r["name"]: r for r in json.loads(runner.invoke(cli, ["models", "list", "--json"]).output)
    }
    assert rows["my-net"]["downloaded"]
    assert runner.invoke(cli, ["models", "verify", "my-net"]).output.strip() == "my-net: ok"
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "in.png")
    out = tmp_path / "out"
    res = runner.invoke(
        cli, ["remove", "-q", "-m", "my-net", str(tmp_path / "in.png"), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert Image.open(out / "in.png").size == (40, 30)


def test_add_refuses_a_mismatching_spec(runner: CliRunner, tmp_path: Path) -> None:
    probe = build_probe(bundled_specs()["birefnet-general-lite"], tmp_path / "x.onnx")
    res = runner.invoke(cli, ["models", "add", str(probe), "--like", "u2netp"])
    assert res.exit_code == 2
    assert "is 1024x1024 (W x H) but the spec's input size is 320x320" in res.output
    assert runner.invoke(cli, ["models", "add", str(probe)]).exit_code == 2


def test_remove_with_class_and_licence(runner: CliRunner, tmp_path: Path) -> None:
    models = tmp_path / "models"
    for name in ("u2net_cloth_seg", "bria-rmbg"):
        build_probe(bundled_specs()[name], models / f"{name}.onnx")
    from PIL import Image

    Image.new("RGB", (40, 30), (20, 100, 200)).save(tmp_path / "in.png")
    args = ["remove", str(tmp_path / "in.png"), "-o", str(tmp_path / "o"), "--overwrite"]
    res = runner.invoke(cli, [*args, "-m", "u2net_cloth_seg", "--class", "upper"])
    assert res.exit_code == 0 and "u2net_cloth_seg:upper" in res.output
    res = runner.invoke(cli, [*args, "-m", "u2net_cloth_seg", "--class", "hat"])
    assert res.exit_code != 0 and "upper, lower, full, all" in res.output
    res = runner.invoke(cli, [*args, "-m", "bria-rmbg"])
    assert res.exit_code != 0 and "--accept-license bria-rmbg" in res.output
    res = runner.invoke(cli, [*args, "-m", "bria-rmbg", "--accept-license", "bria-rmbg"])
    assert res.exit_code == 0, res.output
    assert "note: bria-rmbg is CC-BY-NC-4.0: non-commercial use only" in res.output


def test_add_with_a_spec_file(runner: CliRunner, tmp_path: Path) -> None:
    from bgbye.models.add import spec_like

    spec = spec_like(bundled_specs()["isnet-anime"], "anime2", "Apache-2.0")
    spec.dump(tmp_path / "anime2.json")
    probe = build_probe(bundled_specs()["isnet-anime"], tmp_path / "weights.onnx")
    res = runner.invoke(cli, ["models", "add", str(probe), "--spec", str(tmp_path / "anime2.json")])
    assert res.exit_code == 0, res.output
    rows = {
        r["name"]: r for r in json.loads(runner.invoke(cli, ["models", "list", "--json"]).output)
    }
    assert rows["anime2"]["license"] == "Apache-2.0" and rows["anime2"]["downloaded"]
    spec.input.size = [512, 512]
    spec.dump(tmp_path / "bad.json")
    res = runner.invoke(
        cli, ["models", "add", str(probe), "--spec", str(tmp_path / "bad.json"), "--name", "anime3"]
    )
    assert res.exit_code == 2 and "spec's input size is 512x512" in res.output
