from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bgbye_pipelines.pipelines.data_preprocessing.inspect import inspect_pair, read_mask
from bgbye_pipelines.pipelines.data_preprocessing.splits import (
    LeakageError,
    assign_splits,
    check_leakage,
    quotas,
)
from tests.bgbye_pipelines.fixtures import write_png


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_read_mask_prefers_a_real_alpha_channel() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 200
    assert read_mask(png(Image.fromarray(rgba, "RGBA"))).tolist() == [[200] * 4] * 4
    rgba[..., :3], rgba[..., 3] = 255, 255  # opaque RGBA: luma is the mask
    assert read_mask(png(Image.fromarray(rgba, "RGBA"))).min() == 255
    assert read_mask(png(Image.new("1", (3, 3), 1))).max() == 255


def test_inspect_pair_measures_and_classifies(tmp_path: Path) -> None:
    image = write_png(tmp_path / "i.png", np.zeros((20, 30, 3), np.uint8))
    binary = np.zeros((20, 30), np.uint8)
    binary[5:15, 5:15] = 255
    soft = binary.copy()
    soft[4, 5:15] = 128
    r = inspect_pair(str(image), str(write_png(tmp_path / "b.png", binary)))
    assert (r["width"], r["height"], r["mask_kind"], r["error"]) == (30, 20, "binary", None)
    assert r["fg_fraction"] == pytest.approx(100 / 600)
    assert len(r["sha256"]) == 64
    assert inspect_pair(str(image), str(write_png(tmp_path / "s.png", soft)))["mask_kind"] == "soft"
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert inspect_pair(str(tmp_path / "bad.jpg"), "")["error"] == "unreadable_image"
    assert inspect_pair(str(image), str(tmp_path / "bad.jpg"))["error"] == "unreadable_mask"
    assert inspect_pair(str(image), "")["error"] == "missing_mask"


def frame(n: int, source: str = "s") -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"{source}/{i}" for i in range(n)], "source": source, "forced_split": ""}
    )


def test_quotas() -> None:
    r = {"train": 0.8, "val": 0.1, "test": 0.1}
    assert quotas(100, r) == {"val": 10, "test": 10, "train": 80}
    assert quotas(3, r) == {"val": 1, "test": 1, "train": 1}
    assert quotas(2, r) == {"val": 0, "test": 0, "train": 2}


def test_splits_are_deterministic_stratified_and_order_free() -> None:
    df = pd.concat([frame(50, "a"), frame(20, "b")], ignore_index=True)
    ratios = {"train": 0.8, "val": 0.1, "test": 0.1}
    first = assign_splits(df, ratios, "salt")
    shuffled = df.sample(frac=1, random_state=3)
    again = assign_splits(shuffled, ratios, "salt").loc[df.index]
    assert first.equals(again)
    counts = pd.crosstab(df["source"], first).to_dict("index")
    assert counts == {
        "a": {"test": 5, "train": 40, "val": 5},
        "b": {"test": 2, "train": 16, "val": 2},
    }
    assert not first.equals(assign_splits(df, ratios, "other-salt"))


def test_forced_split_is_kept() -> None:
    df = frame(5)
    df.loc[[0, 1], "forced_split"] = "test"
    split = assign_splits(df, {"train": 1.0}, "x")
    assert split.tolist() == ["test", "test", "train", "train", "train"]


def test_leakage_check() -> None:
    ok = pd.DataFrame({"id": ["a", "b"], "sha256": ["1", "2"], "split": ["train", "test"]})
    check_leakage(ok)
    with pytest.raises(LeakageError, match="sha256"):
        check_leakage(ok.assign(sha256=["1", "1"]))
    with pytest.raises(LeakageError, match="unknown split"):
        check_leakage(ok.assign(split=["train", "holdout"]))
