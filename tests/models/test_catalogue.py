"""The catalogue: rembg's facts pinned, licences gated, names forgiving, classes addressable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bgbye.engines import EngineCache
from bgbye.errors import InvalidOptionError, LicenseNotAcceptedError, UnknownModelError
from bgbye.models.registry import Registry, bundled_specs, close_matches, parse_ref
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests.conftest import isolated_settings, make_image
from tests.models.probes import build_probe

SPECS = bundled_specs()


def test_every_spec_pins_a_hash_a_licence_and_its_source() -> None:
    for name, spec in SPECS.items():
        assert spec.md5 or spec.sha256, name
        assert spec.license != "unknown" and spec.license_source.startswith("https://"), name
        assert spec.description and spec.source and (spec.url or spec.carrier), name
        assert spec.filename == f"{name}.onnx", name  # rembg's file name: ~/.u2net is reusable


def test_specs_pin_what_rembg_pins() -> None:
    """md5 and URL equal the ones in rembg's session classes (read from its source)."""
    import inspect
    import re

    from rembg.sessions import sessions

    for name, spec in SPECS.items():
        if not spec.rembg_session:
            continue
        src = inspect.getsource(sessions[spec.rembg_session].download_models)
        url = re.search(r'"(https://[^"]+\.onnx)"', src)
        pinned = re.search(r'"(md5|sha256):([0-9a-f]+)"', src)
        assert url and pinned, name
        assert spec.url == url.group(1), name
        assert getattr(spec, pinned.group(1)) == pinned.group(2), name


def test_u2netp_pins_agree_with_the_real_file(u2netp_path: Path) -> None:
    from bgbye.models.fetch import mismatch

    assert mismatch(SPECS["u2netp"], u2netp_path) is None  # md5 (rembg) + sha256 + size


def test_only_bria_is_non_commercial() -> None:
    assert [n for n, s in SPECS.items() if s.non_commercial] == ["bria-rmbg"]
    assert SPECS["bria-rmbg"].license == "CC-BY-NC-4.0"


def test_close_matches() -> None:
    names = list(SPECS)
    assert close_matches("birefnet", names)[:1] == ["birefnet-cod"]
    assert "birefnet-general" in close_matches("birefnet", names)
    assert close_matches("u2nett", names)[0] == "u2net"
    assert close_matches("isnet_general_use", names)[0] == "isnet-general-use"
    assert close_matches("zzzz", names) == []


def test_unknown_name_lists_close_matches(settings: Settings) -> None:
    with pytest.raises(UnknownModelError, match=r"Did you mean isnet-general-use, "):
        Registry(settings).resolve("isnet-general")


def test_parse_ref() -> None:
    assert parse_ref("u2net_cloth_seg:upper") == ("u2net_cloth_seg", "upper")
    assert parse_ref("u2netp") == ("u2netp", None)
    assert parse_ref("models/x:y.onnx") == ("models/x:y.onnx", None)


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    folder = tmp_path / "zoo"
    for name in ("bria-rmbg", "u2net_cloth_seg"):
        build_probe(SPECS[name], folder / f"{name}.onnx")
    return folder


def test_bria_refused_without_acceptance_and_labelled_with_it(zoo: Path, tmp_path: Path) -> None:
    settings = isolated_settings(zoo, "u2netp", tmp_path)
    with pytest.raises(LicenseNotAcceptedError, match="BGBYE_ACCEPT_LICENSES=bria-rmbg") as err:
        EngineCache(settings).get("bria-rmbg")
    assert err.value.http_status == 403
    settings.accept_licenses = "something-else, bria-rmbg"
    result = Remover(EngineCache(settings).get("bria-rmbg"), settings).remove_bytes(
        _png(make_image())
    )
    assert result.info["license"] == "CC-BY-NC-4.0"
    assert "non-commercial" in result.info["license_notice"]


def test_env_variable_accepts(zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGBYE_ACCEPT_LICENSES", "CC-BY-NC-4.0")
    settings = Settings(model_dir=zoo, extra_model_dirs=[], storage_dir=tmp_path)
    assert Registry(settings).resolve("bria-rmbg").available


def test_cloth_classes_by_ref(zoo: Path, tmp_path: Path) -> None:
    settings = isolated_settings(zoo, "u2netp", tmp_path)
    cache = EngineCache(settings)
    img = make_image(80, 60)
    alphas = {
        c: cache.get(f"u2net_cloth_seg:{c}").predict(img).alpha
        for c in SPECS["u2net_cloth_seg"].output.class_names
    }
    assert cache.get("u2net_cloth_seg").name == "u2net_cloth_seg:all"  # the default
    union = alphas["upper"] | alphas["lower"] | alphas["full"]
    assert (alphas["all"] == union).all()
    with pytest.raises(InvalidOptionError, match="choose one of upper, lower, full, all"):
        cache.get("u2net_cloth_seg:shoes")
    shutil.copy(zoo / "bria-rmbg.onnx", zoo / "u2netp.onnx")  # any single-class model
    with pytest.raises(InvalidOptionError, match="has no classes"):
        cache.get("u2netp:upper")


def test_describe_has_the_listing_facts(zoo: Path, tmp_path: Path) -> None:
    reg = Registry(isolated_settings(zoo, "u2netp", tmp_path))
    entries = reg.entries()
    bria = reg.describe("bria-rmbg", entries["bria-rmbg"])
    assert bria["downloaded"] and bria["non_commercial"] and not bria["license_accepted"]
    assert bria["size"] == "~1024 MB" and bria["input_size"] == [1024, 1024]
    u2 = reg.describe("u2netp", entries["u2netp"])
    assert u2["size"] == "4.6 MB" and not u2["downloaded"] and u2["license"] == "Apache-2.0"
    json.dumps(bria)


def _png(rgb: object) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")  # type: ignore[arg-type]
    return buf.getvalue()
