"""cut_out: unlabelled images get masks through the one batch engine (local or Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bgbye.settings import Settings
from bgbye_pipelines.pipelines.data_ingestion.sources import ConfigError
from bgbye_pipelines.pipelines.dataset_generation.subjects import cut_out
from tests.conftest import image_bytes


def _images(root: Path) -> list[str]:
    root.mkdir(parents=True)
    paths = []
    for name, fmt in (("a.jpg", "JPEG"), ("a.png", "PNG"), ("b.png", "PNG")):
        (root / name).write_bytes(image_bytes(fmt))
        paths.append(str(root / name))
    (root / "bad.png").write_bytes(b"\x89PNG not really")
    return [*paths, str(root / "bad.png")]


def test_masks_resume_and_partials(settings: Settings, tmp_path: Path) -> None:
    images = _images(tmp_path / "in")
    out = tmp_path / "cutouts"
    out.mkdir()
    (out / ".a.png.abc123.part").write_bytes(b"left by a killed run")
    masks = cut_out(images, out, model="tiny", executor="local", workers=2, settings=settings)
    assert sorted(Path(p).name for p in masks) == ["a.jpg", "a.png", "b.png"]  # bad.png failed
    assert Path(masks[images[1]]).name == "a.png.png"  # the shared naming rule
    assert all(Image.open(m).mode == "L" for m in masks.values())
    assert not list(out.glob(".*.part"))
    assert cut_out([], out, model="tiny", executor="local", workers=1, settings=settings) == {}
    with pytest.raises(ConfigError, match="local or ray"):
        cut_out(images, out, model="tiny", executor="dask", workers=1, settings=settings)


@pytest.mark.ray
def test_ray_gives_the_same_masks(settings: Settings, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    images = _images(tmp_path / "in")
    local = cut_out(images, tmp_path / "local", model="tiny", executor="local", workers=1,
                    settings=settings)
    on_ray = cut_out(images, tmp_path / "ray", model="tiny", executor="ray", workers=1,
                     settings=settings)
    assert list(local) == list(on_ray)
    for src in local:
        assert Image.open(local[src]).tobytes() == Image.open(on_ray[src]).tobytes()
