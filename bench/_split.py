"""The train/test split of ../shared/data/real as `kedro run --env shared` assigns it.

Same ids (``source/stem``), same salt and ratios, through the pipeline's own ``assign_splits``;
rembg_fixtures is test-only there (its masks are model output) and is left out here, since its
masks are not ground truth.
"""

from __future__ import annotations

from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SOURCES = ("ccp_person", "coco_mval", "weizmann_horse")


def pairs(split: str, root: Path = REAL) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of one split, in a stable order."""
    import pandas as pd

    from bgbye_pipelines.pipelines.data_preprocessing.splits import assign_splits

    rows = []
    for source in SOURCES:
        masks = {p.stem: p for p in (root / source / "masks").iterdir()}
        for image in sorted((root / source / "images").iterdir()):
            if image.stem in masks:
                rows.append((f"{source}/{image.stem}", source, image, masks[image.stem]))
    frame = pd.DataFrame(rows, columns=["id", "source", "image", "mask"])
    frame["split"] = assign_splits(frame, {"train": 0.8, "val": 0.1, "test": 0.1}, "bgbye-v1")
    chosen = frame[frame["split"] == split].sort_values("id")
    return list(zip(chosen["image"], chosen["mask"], strict=True))
