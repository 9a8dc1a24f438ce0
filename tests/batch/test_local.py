from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bgbye.batch.local import run_local
from bgbye.batch.plan import plan_tasks
from bgbye.postprocess import RemoveOptions
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
    remover = Remover.from_model(None, settings)
    tasks = plan_tasks([src], out, "png")
    s1 = run_local(tasks, remover, RemoveOptions(), workers=2, progress=False)
    assert (s1.done, s1.skipped, s1.failed) == (5, 0, 0) and s1.ok
    assert all(Image.open(t.out).mode == "RGBA" for t in tasks)
    s2 = run_local(tasks, remover, RemoveOptions(), workers=2, progress=False)
    assert (s2.done, s2.skipped) == (0, 5)
    s3 = run_local(tasks, remover, RemoveOptions(), workers=2, overwrite=True, progress=False)
    assert s3.done == 5


def test_bad_file_is_reported_not_fatal(settings: Settings, tmp_path: Path) -> None:
    src = _folder(tmp_path, 3)
    (src / "broken.jpg").write_bytes(hostile.truncated_jpeg())
    (src / "empty.png").write_bytes(b"")
    seen = []
    summary = run_local(
        plan_tasks([src], tmp_path / "out", "png"),
        Remover.from_model(None, settings),
        RemoveOptions(),
        workers=2,
        progress=False,
        on_failure=seen.append,
    )
    assert (summary.done, summary.failed) == (3, 2) and not summary.ok
    assert {f.path for f in summary.failures} == {"broken.jpg", "empty.png"}
    assert {f.code for f in seen} == {"invalid_image", "empty_input"}
    assert not (tmp_path / "out" / "broken.png").exists()


def test_workers_give_identical_outputs(settings: Settings, tmp_path: Path) -> None:
    src = _folder(tmp_path, 4)
    remover = Remover.from_model(None, settings)
    outs = []
    for w in (1, 3):
        tasks = plan_tasks([src], tmp_path / f"out{w}", "png")
        run_local(tasks, remover, RemoveOptions(), workers=w, progress=False)
        outs.append([np.asarray(Image.open(t.out)) for t in tasks])
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
