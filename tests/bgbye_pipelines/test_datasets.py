"""The project's image datasets: what a killed or failed save leaves behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.io import DatasetError

from bgbye_pipelines.datasets import ImageFileDataset, ImageSourceDataset


def _pair(value: int) -> Any:
    def make() -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        return (np.full((8, 10, 3), value, np.uint8), np.full((8, 10), value, np.uint8),
                {"value": value})
    return make


def _provenance(manifest: Any) -> dict[str, Any]:
    return {"dataset": "test", "pairs": len(manifest)}


def test_a_failed_source_save_keeps_the_published_folder(tmp_path: Path) -> None:
    dataset = ImageSourceDataset(str(tmp_path / "src"), image_format="png", workers=2)
    dataset.save({"pairs": {"a": _pair(10), "b": _pair(20)}, "provenance": _provenance})
    first = dataset.load()
    assert first["provenance"] == {"dataset": "test", "pairs": 2}
    assert first["manifest"]["image"].tolist() == ["images/a.png", "images/b.png"]
    assert int(first["masks"]["b"]().max()) == 20

    def broken() -> Any:
        raise RuntimeError("killed halfway")

    with pytest.raises(DatasetError, match="killed halfway"):
        dataset.save({"pairs": {"a": _pair(30), "c": broken}, "provenance": _provenance})
    kept = dataset.load()  # the previous source, whole: no mix of old and new composites
    assert sorted(kept["images"]) == ["a", "b"] and int(kept["masks"]["a"]().max()) == 10

    dataset.save({"pairs": {"c": _pair(40)}, "provenance": _provenance})  # a rerun replaces it
    assert sorted(dataset.load()["images"]) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no build or old folders


def test_image_file_writes_are_atomic_and_round_trip(tmp_path: Path) -> None:
    mask = (np.arange(48, dtype=np.uint8).reshape(6, 8) * 5)
    target = tmp_path / "m" / "x.png"
    ImageFileDataset(str(target)).save(mask)
    assert np.array_equal(ImageFileDataset(str(target)).load(), mask)
    with pytest.raises(DatasetError, match="uint8"):  # a failed encode writes nothing at all
        ImageFileDataset(str(tmp_path / "m" / "y.png")).save(mask.astype(np.float32))
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
