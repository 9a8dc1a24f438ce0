"""Dataset and joint augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from bgbye_pipelines.ml.data import (  # noqa: E402
    AugmentConfig,
    DataError,
    Normalization,
    SegmentationDataset,
    build_datasets,
    composite,
    manifest_split,
    random_texture,
)
from tests.bgbye_pipelines.ml.manifest_fixtures import write_manifest  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture
def manifest(tmp_path: Path):
    return write_manifest(tmp_path)


def test_validation_samples_are_the_serving_preprocessing(manifest) -> None:
    rows = manifest_split(manifest, "val")
    ds = SegmentationDataset(rows, 64, train=False, normalization=Normalization())
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert y.shape == (1, 64, 64) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    # subject pixels are orange: after ImageNet normalisation red is high and blue low there
    inside = y[0] > 0.9
    assert inside.any()
    assert float(x[0][inside].mean()) > 1.0 > float(x[2][inside].mean())


def test_geometric_augmentation_moves_image_and_mask_together(manifest) -> None:
    aug = AugmentConfig(color_jitter=(0, 0, 0, 0), grayscale_p=0.0, background_p=0.0,
                        rotate_p=1.0, rotate_degrees=20)
    ds = SegmentationDataset(manifest_split(manifest, "train"), 48, train=True, augment=aug,
                             normalization=Normalization(mean=[0, 0, 0], std=[1, 1, 1]))
    torch.manual_seed(0)
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 48, 48) and y.shape == (1, 48, 48)
        fg, bg = y[0] > 0.95, y[0] < 0.05
        if fg.sum() > 20 and bg.sum() > 20:
            # where the mask says subject, the pixels are the subject's orange
            assert float(x[0][fg].mean()) > float(x[0][bg].mean()) + 0.4


def test_background_compositing_replaces_only_the_background(manifest) -> None:
    img = torch.full((3, 8, 8), 200, dtype=torch.uint8)
    mask = torch.zeros(1, 8, 8, dtype=torch.uint8)
    mask[:, 2:6, 2:6] = 255
    bg = torch.zeros(3, 8, 8, dtype=torch.uint8)
    out = composite(img, mask, bg)
    assert (out[:, 2:6, 2:6] == 200).all() and int(out[:, 0, 0].sum()) == 0
    tex = random_texture(32)
    assert tex.shape == (3, 32, 32) and tex.dtype == torch.uint8 and tex.float().std() > 1


def test_missing_split_or_columns_are_clear_errors(manifest) -> None:
    with pytest.raises(DataError, match="no pairs"):
        SegmentationDataset(manifest_split(manifest, "nope"), 32, train=False)
    with pytest.raises(DataError, match="lacks columns"):
        manifest_split(manifest.drop(columns=["mask_path"]), "train")


def test_unreadable_pair_is_a_clear_error(manifest) -> None:
    broken = manifest_split(manifest, "val").copy()
    broken["model_input_image"] = None
    broken.loc[0, "image_path"] = "/nonexistent.png"
    with pytest.raises(DataError, match="cannot read"):
        SegmentationDataset(broken, 32, train=False)


def test_build_datasets_respects_limits(manifest) -> None:
    train, val = build_datasets(manifest, 32, AugmentConfig(), Normalization(), limit=(3, None))
    assert len(train) == 3 and len(val) == 4
    assert train.images.shape[-1] > 32  # training copies keep a margin for random crops


def test_a_train_only_source_can_be_named_and_an_empty_selection_cannot(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "data")
    # beta as composites are: train rows only
    manifest = manifest[~((manifest["source"] == "beta") & (manifest["split"] != "train"))]
    train, val = build_datasets(manifest, 32, AugmentConfig(), Normalization(),
                                sources=["alpha", "beta"])
    assert set(train.sources) == {"alpha", "beta"} and set(val.sources) == {"alpha"}
    with pytest.raises(DataError, match=r"none of \['beta'\] has val pairs"):
        build_datasets(manifest, 32, AugmentConfig(), Normalization(), sources=["beta"])
    with pytest.raises(DataError, match=r"unknown source\(s\) \['gamma'\]"):
        build_datasets(manifest, 32, AugmentConfig(), Normalization(), sources=["gamma"])
