"""The one options model: validated when built, the same errors for every front end."""

from __future__ import annotations

import numpy as np
import pytest

from bgbye import imageio
from bgbye.errors import InvalidImageError, InvalidOptionError
from bgbye.options import RemoveOptions


def test_defaults_and_normalisation() -> None:
    opts = RemoveOptions(format="JPEG", bg_color="  ")
    assert opts.format == opts.output_format == "jpg"
    assert opts.bg_color is None and not opts.has_background  # blank form field = not given
    assert RemoveOptions(bg_image=b"").bg_image is None  # an empty upload = not given


@pytest.mark.parametrize(("fields", "match"), [
    ({"format": "gif"}, "format"),
    ({"margin": 10_001}, "margin"),
    ({"margin": "wide"}, "margin"),
    ({"bg_color": "nope"}, "colour"),
    ({"mask_only": True, "bg_color": "fff"}, "mask_only"),
    ({"sharpen": True}, "sharpen"),  # unknown fields are refused, never ignored
])
def test_bad_values_are_one_error_naming_the_field(fields: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match) as info:
        RemoveOptions(**fields)  # type: ignore[arg-type]
    assert info.value.http_status == 422


def test_background_image_is_checked_from_its_header() -> None:
    with pytest.raises(InvalidImageError):
        RemoveOptions(bg_image=b"not an image at all")
    png = imageio.encode(np.zeros((4, 4, 3), np.uint8), "png")
    with pytest.raises(InvalidOptionError, match="either a background colour"):
        RemoveOptions(bg_image=png, bg_color="fff")


def test_frozen_and_a_job_record_round_trip() -> None:
    png = imageio.encode(np.zeros((4, 4, 3), np.uint8), "png")
    opts = RemoveOptions(format="webp", bg_image=png, crop=True, margin=3)
    with pytest.raises(Exception, match="frozen"):
        opts.crop = False  # type: ignore[misc]
    record = opts.to_record()
    assert record == {"format": "webp", "mask_only": False, "bg_color": None, "crop": True,
                      "margin": 3, "refine": False, "bg_image": True}
    assert RemoveOptions.from_record(record, png) == opts
    assert RemoveOptions.from_record({**record, "bg_image": False}, png).bg_image is None
