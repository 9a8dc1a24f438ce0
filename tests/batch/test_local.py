from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgbye.batch import LocalExecutor, NoImagesError, remove_folder
from bgbye.batch.plan import plan
from bgbye.errors import UnknownModelError
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests import hostile
from tests.conftest import image_bytes


def _folder(root: Path, n: int = 5) -> Path:
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    for i in range(n):
        (src / ("sub" if i % 2 else "") / f"img{i}.jpg").write_bytes(image_bytes("JPEG"))
    return src


def test_batch_writes_all_and_resumes(settings: Settings, tmp_path: Path) -> None:
    src = _folder(tmp_path)
    out = tmp_path / "out"
    executor = LocalExecutor(2, remover=Remover.from_model(None, settings))
    progress: list[tuple[int, int]] = []
    s1 = remove_folder(src, out, settings=settings, executor=executor,
                       on_progress=lambda done, total: progress.append((done, total)))
    assert (s1.done, s1.skipped, s1.failed) == (5, 0, 0) and s1.ok
    assert progress[0] == (0, 5) and progress[-1] == (5, 5) and len(progress) == 6
    assert all(Image.open(t.out).mode == "RGBA" for t in plan([src], out, "png"))
    s2 = remove_folder(src, out, settings=settings, executor=executor)
    assert (s2.done, s2.skipped) == (0, 5)
    s3 = remove_folder(src, out, settings=settings, executor=executor, overwrite=True)
    assert s3.done == 5 and s3.engine == executor.remover.engine.label


def test_bad_file_is_reported_not_fatal(settings: Settings, tmp_path: Path) -> None:
    src = _folder(tmp_path, 3)
    (src / "broken.jpg").write_bytes(hostile.truncated_jpeg())
    (src / "empty.png").write_bytes(b"")
    seen = []
    summary = remove_folder(src, tmp_path / "out", settings=settings,
                            executor=LocalExecutor(2), on_failure=seen.append)
    assert (summary.done, summary.failed) == (3, 2) and not summary.ok
    assert {f.path for f in summary.failures} == {"broken.jpg", "empty.png"}
    assert {f.code for f in seen} == {"invalid_image", "empty_input"}
    assert not (tmp_path / "out" / "broken.png").exists()


def test_partials_of_a_killed_run_are_cleaned(settings: Settings, tmp_path: Path) -> None:
    src = _folder(tmp_path, 1)
    partial = tmp_path / "out" / ".img0.png.x1y2.part"
    partial.parent.mkdir()
    partial.write_bytes(b"half")
    remove_folder(src, tmp_path / "out", settings=settings)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png"]


def test_errors_before_any_work(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoImagesError, match="No images"):
        remove_folder(tmp_path / "empty", tmp_path / "out", settings=settings)
    with pytest.raises(FileNotFoundError):
        remove_folder(tmp_path / "nope", tmp_path / "out", settings=settings)
    src = _folder(tmp_path, 1)
    with pytest.raises(UnknownModelError):
        remove_folder(src, tmp_path / "out", ref="no-such-model", settings=settings)
    assert not (tmp_path / "out").exists()


def test_workers_give_identical_outputs(settings: Settings, tmp_path: Path) -> None:
    src = _folder(tmp_path, 4)
    remover = Remover.from_model(None, settings)
    outs = []
    for w in (1, 3):
        out = tmp_path / f"out{w}"
        remove_folder(src, out, settings=settings, executor=LocalExecutor(w, remover=remover))
        outs.append([np.asarray(Image.open(t.out)) for t in plan([src], out, "png")])
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
