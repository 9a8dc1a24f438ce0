"""bgbye's u2netp alpha equals rembg's u2netp alpha on real photos: the preprocessing is right."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgbye.imageio import read_rgb
from bgbye.remover import Remover
from bgbye.settings import Settings

# Mean absolute difference in 8-bit levels, and the share of pixels off by more than 2 levels.
MEAN_TOLERANCE = 0.5
FAR_PIXEL_SHARE = 0.001


@pytest.mark.slow
def test_alpha_matches_rembg(u2netp_settings: Settings, u2netp_path: Path, real_data: Path) -> None:
    os.environ["U2NET_HOME"] = str(u2netp_path.parent)  # rembg loads the same fetched file
    rembg = pytest.importorskip("rembg")
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
