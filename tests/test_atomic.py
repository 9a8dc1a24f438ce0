"""Atomic writes keep the usual file modes (rembg's outputs are 0644 under umask 022)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgbye.atomic import atomic_write_bytes, is_partial


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_respect_the_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    target = tmp_path / "sub" / "a.png"
    atomic_write_bytes(target, b"data")
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() == b"data"
    assert not [p for p in target.parent.iterdir() if is_partial(p)]
