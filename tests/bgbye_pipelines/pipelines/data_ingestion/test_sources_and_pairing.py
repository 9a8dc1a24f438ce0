from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgbye_pipelines.pipelines.data_ingestion.pairing import pair_folder
from bgbye_pipelines.pipelines.data_ingestion.sources import ConfigError, Pairing, parse_sources
from tests.bgbye_pipelines.fixtures import write_png

IMG = np.zeros((8, 8, 3), np.uint8)
MASK = np.zeros((8, 8), np.uint8)


def test_parse_sources_accepts_each_kind() -> None:
    specs = parse_sources(
        [
            {"name": "a", "url": "https://example.org/a.zip", "sha256": "A" * 64},
            {"name": "b", "gdrive": "abc"},
            {"name": "c", "path": "data/x"},
            {"name": "d", "generated": {"count": 2}},
        ]
    )
    assert [s.kind for s in specs] == ["url", "gdrive", "path", "generated"]
    assert specs[0].sha256 == "a" * 64
    assert specs[3].pairing.masks == "masks"


@pytest.mark.parametrize(
    "item, words",
    [
        ({"name": "x"}, "exactly one"),
        ({"name": "x", "path": "p", "gdrive": "id"}, "exactly one"),
        ({"name": "../x", "path": "p"}, "letters"),
        ({"name": "x", "url": "ftp://host/a.zip"}, "http"),
        ({"name": "x", "path": "p", "sha256": "123"}, "64 hex"),
        ({"name": "x", "path": "p", "colour": 1}, "extra"),
    ],
)
def test_parse_sources_rejects_bad_definitions(item: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=r"Source (x|\.\./x)") as info:
        parse_sources([item])
    assert words in str(info.value)


def test_duplicate_names_refused() -> None:
    with pytest.raises(ConfigError, match="repeated: a"):
        parse_sources([{"name": "a", "path": "p"}, {"name": "a", "path": "q"}])


def test_mirror_folders_and_extension_fallback(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "sub" / "one.png", IMG)
    write_png(tmp_path / "images" / "two.png", IMG)
    write_png(tmp_path / "images" / "lonely.png", IMG)
    write_png(tmp_path / "masks" / "sub" / "one.png", MASK)
    (tmp_path / "masks" / "two.bmp").write_bytes(
        (tmp_path / "masks" / "sub" / "one.png").read_bytes()
    )
    found = pair_folder(tmp_path, Pairing(mask_extensions=["png", "bmp"]))
    assert sorted(k for k, _, _ in found.pairs) == ["one", "two"]
    assert found.unpaired == [str(tmp_path / "images" / "lonely.png")]


def test_suffix_rule_in_one_folder(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", IMG)
    write_png(tmp_path / "a_mask.png", MASK)
    found = pair_folder(tmp_path, Pairing(images=".", masks=".", mask_suffix="_mask"))
    # the mask file itself has no a_mask_mask partner, so it is reported unpaired, not paired
    assert [(k, Path(m).name) for k, _, m in found.pairs] == [("a", "a_mask.png")]


def test_glob_template_and_clashing_stems(tmp_path: Path) -> None:
    for part in ("DIS-TE1", "DIS-TE2"):
        write_png(tmp_path / "DIS5K" / part / "im" / "x.png", IMG)
        write_png(tmp_path / "DIS5K" / part / "gt" / "x.png", MASK)
    found = pair_folder(tmp_path, Pairing(images="DIS5K/DIS-*/im", masks="{dir}/../gt"))
    keys = sorted(k for k, _, _ in found.pairs)
    assert keys == ["DIS5K/DIS-TE1/im/x", "DIS5K/DIS-TE2/im/x"]
    for _, image, mask in found.pairs:
        assert (
            Path(mask).parent.name == "gt" and Path(image).parent.parent == Path(mask).parent.parent
        )


def test_unlabelled_images(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "a.png", IMG)
    found = pair_folder(tmp_path, Pairing(masks=None))
    assert found.pairs == [("a", str(tmp_path / "images" / "a.png"), "")]
