"""bgbye reproduces rembg, model by model: the tensors that reach the model and the alpha.

The fast tests run every catalogue model's spec against a probe ONNX with the model's
signature (tests/models/probes.py), through bgbye as served (registry -> engine -> Remover)
and through rembg's own session class for that name; the slow test runs the real u2netp on real
photos. The bar is the same everywhere: mean |Δα| < 0.5 levels out of 255.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bgbye.engines import EngineCache
from bgbye.engines.onnx import OnnxEngine
from bgbye.imageio import read_rgb
from bgbye.models.registry import bundled_specs
from bgbye.models.spec import ModelSpec
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests.conftest import isolated_settings
from tests.models.probes import build_probe

# Mean absolute difference in 8-bit levels, and the share of pixels off by more than 2 levels.
MEAN_TOLERANCE = 0.5
FAR_PIXEL_SHARE = 0.001
TENSOR_TOLERANCE = 1e-5
REMBG_SPECS = {n: s for n, s in bundled_specs().items() if s.rembg_session}
rembg = pytest.importorskip("rembg")


class Recorder:
    """Wraps an ORT session (rembg's) or a bgbye runtime session (ONNX Runtime or OpenVINO)
    and keeps a copy of every feed it runs."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, first: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(first, np.ndarray):  # bgbye's runtime Session: run(x, output_index)
            self.feeds.append({self.inner.input_name: np.array(first, copy=True)})
        else:  # an ORT InferenceSession: run(names, feed)
            self.feeds.append({k: np.array(v, copy=True) for k, v in args[0].items()})
        return self.inner.run(first, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def probe_image(width: int = 61, height: int = 47) -> np.ndarray:
    """Colour ramps, a disc and noise: every class and every alpha level gets some pixels."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:height, :width]
    img = np.stack(
        [255 * xx / (width - 1), 255 * yy / (height - 1), 255 * (1 - xx / (width - 1))], axis=-1
    )
    disc = (xx - width * 0.6) ** 2 + (yy - height * 0.4) ** 2 < (min(width, height) / 4) ** 2
    img[disc] = (180, 30, 160)
    noisy = img + rng.normal(0, 12, img.shape)
    return np.clip(noisy, 0, 180).astype(np.uint8)  # max < 255: the /max scaling matters


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probes")
    for spec in REMBG_SPECS.values():
        build_probe(spec, folder / spec.filename)
    return folder


@pytest.fixture
def rembg_home(probe_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # rembg finds NAME.onnx in U2NET_HOME and, with the checksum off, never downloads.
    monkeypatch.setenv("U2NET_HOME", str(probe_dir))
    monkeypatch.setenv("MODEL_CHECKSUM_DISABLED", "1")
    return probe_dir


def _probe_settings(probe_dir: Path, tmp_path: Path, accept: str = "") -> Settings:
    settings = isolated_settings(probe_dir, "u2netp", tmp_path)
    settings.accept_licenses = accept
    return settings


def _bgbye(settings: Settings, ref: str, rgb: np.ndarray) -> tuple[np.ndarray, Recorder]:
    engine = EngineCache(settings, threads=1).get(ref)
    assert isinstance(engine, OnnxEngine)
    recorder = Recorder(engine.session)
    engine.session = recorder  # type: ignore[assignment]
    return Remover(engine, settings).remove_array(rgb), recorder


def _rembg(name: str, rgb: np.ndarray, **kw: Any) -> tuple[np.ndarray, Recorder]:
    session = rembg.new_session(name)
    recorder = Recorder(session.inner_session)
    session.inner_session = recorder
    mask = rembg.remove(Image.fromarray(rgb), session=session, only_mask=True, **kw)
    return np.asarray(mask.convert("L")), recorder


def _assert_same_feed(ours: Recorder, theirs: Recorder) -> None:
    (a,), (b,) = ours.feeds, theirs.feeds
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].shape == b[key].shape and a[key].dtype == b[key].dtype == np.float32
        assert np.abs(a[key] - b[key]).max() < TENSOR_TOLERANCE, key


def _assert_same_alpha(ours: np.ndarray, theirs: np.ndarray, label: str) -> None:
    assert ours.shape == theirs.shape, label
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    assert diff.mean() < MEAN_TOLERANCE, (label, diff.mean())
    assert (diff > 2).mean() < FAR_PIXEL_SHARE, (label, (diff > 2).mean())
    assert theirs.min() < 64 and theirs.max() > 192, f"{label}: the probe alpha is too flat"


def test_catalogue_is_rembgs() -> None:
    """Every rembg session that downloads one ONNX for images has a spec of the same name."""
    from rembg.sessions import sessions_names

    prompted_or_custom = {"sam", "u2net_custom", "dis_custom", "ben_custom"}
    assert set(sessions_names) - prompted_or_custom == set(REMBG_SPECS)


@pytest.mark.parametrize(
    "name", sorted(n for n, s in REMBG_SPECS.items() if s.output.kind != "classes")
)
def test_probe_parity(name: str, rembg_home: Path, tmp_path: Path) -> None:
    rgb = probe_image()
    ours, our_feed = _bgbye(_probe_settings(rembg_home, tmp_path, accept=name), name, rgb)
    theirs, their_feed = _rembg(name, rgb)
    _assert_same_feed(our_feed, their_feed)
    _assert_same_alpha(ours, theirs, name)


@pytest.mark.parametrize("cls", ["upper", "lower", "full", "all"])
def test_cloth_classes_parity(cls: str, rembg_home: Path, tmp_path: Path) -> None:
    rgb = probe_image(90, 70)
    settings = _probe_settings(rembg_home, tmp_path)
    ours, our_feed = _bgbye(settings, f"u2net_cloth_seg:{cls}", rgb)
    if cls == "all":
        # rembg without a class returns the three masks stacked; "all" is their union.
        stacked, their_feed = _rembg("u2net_cloth_seg", rgb)
        theirs = stacked.reshape(3, *rgb.shape[:2]).max(axis=0)
    else:
        theirs, their_feed = _rembg("u2net_cloth_seg", rgb, cc=cls)
    _assert_same_feed(our_feed, their_feed)
    _assert_same_alpha(ours, theirs, cls)


@pytest.mark.parametrize(
    "change",
    [
        {"input": {"std": [1.0, 1.0, 1.0]}},
        {"input": {"scale": "unit"}},
        {"input": {"size": [512, 512]}},
        {"output": {"kind": "prob"}},
        {"output": {"index": 1}},
    ],
    ids=["std", "scale", "size", "no-sigmoid", "output-index"],
)
def test_parity_check_catches_a_wrong_spec(
    change: dict[str, dict[str, Any]], rembg_home: Path, tmp_path: Path
) -> None:
    """The bar above is not loose: one wrong field in birefnet-general's spec fails it."""
    spec = REMBG_SPECS["birefnet-general"]
    wrong = ModelSpec.model_validate(
        {**spec.model_dump(), **{k: {**spec.model_dump()[k], **v} for k, v in change.items()}}
    )
    rgb = probe_image()
    engine = OnnxEngine(wrong, rembg_home / spec.filename, threads=1)
    recorder = Recorder(engine.session)
    engine.session = recorder  # type: ignore[assignment]
    try:
        ours = engine.predict(rgb).alpha
    except Exception:  # a wrong size is refused by the runtime: that is failing too
        return
    theirs, their_feed = _rembg("birefnet-general", rgb)
    with pytest.raises(AssertionError):
        _assert_same_feed(recorder, their_feed)
        _assert_same_alpha(ours, theirs, "wrong spec")


def test_u2netp_probe_has_the_real_signature(u2netp_path: Path, probe_dir: Path) -> None:
    import onnxruntime as ort

    def signature(path: Path) -> list[tuple[str, list[Any]]]:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return [(i.name, i.shape) for i in [*sess.get_inputs(), *sess.get_outputs()]]

    assert signature(probe_dir / "u2netp.onnx") == signature(u2netp_path)


@pytest.mark.slow
def test_alpha_matches_rembg(u2netp_settings: Settings, u2netp_path: Path, real_data: Path) -> None:
    os.environ["U2NET_HOME"] = str(u2netp_path.parent)  # rembg loads the same fetched file
    session = rembg.new_session("u2netp")
    remover = Remover.from_model("u2netp", u2netp_settings)
    images = [
        sorted((real_data / s / "images").iterdir())[0]
        for s in ("weizmann_horse", "ccp_person", "coco_mval", "rembg_fixtures")
    ]
    for path in images:
        ours = remover.remove_array(read_rgb(str(path))).astype(int)
        theirs = np.asarray(rembg.remove(Image.open(path), session=session, only_mask=True)).astype(
            int
        )
        diff = np.abs(ours - theirs)
        assert ours.shape == theirs.shape, path.name
        assert diff.mean() < MEAN_TOLERANCE, (path.name, diff.mean())
        assert (diff > 2).mean() < FAR_PIXEL_SHARE, (path.name, (diff > 2).mean())
