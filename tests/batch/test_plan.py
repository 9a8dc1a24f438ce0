from __future__ import annotations

from pathlib import Path

import pytest

from bgbye.batch.plan import Task, clean_partials, pending, plan


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_tree_is_mirrored_and_non_images_ignored(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _touch(src / "a.jpg")
    _touch(src / "sub" / "deep" / "b.PNG")
    _touch(src / "notes.txt")
    _touch(src / ".hidden" / "c.jpg")
    tasks = plan([src], tmp_path / "out", "png")
    assert [(t.rel, Path(t.out).relative_to(tmp_path / "out").as_posix()) for t in tasks] == [
        ("a.jpg", "a.png"),
        ("sub/deep/b.PNG", "sub/deep/b.png"),
    ]


def test_stem_collisions_keep_both(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _touch(src / "a.jpg")
    _touch(src / "a.png")
    outs = sorted(Path(t.out).name for t in plan([src], tmp_path / "o", "png"))
    assert outs == ["a.png", "a.png.png"]


def test_single_file_to_named_output(tmp_path: Path) -> None:
    f = _touch(tmp_path / "photo.jpg")
    (task,) = plan([f], tmp_path / "result.webp", "webp")
    assert task.out == str(tmp_path / "result.webp")


def test_output_inside_input_is_not_reprocessed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _touch(src / "a.jpg")
    _touch(src / "out" / "a.png")
    assert [t.rel for t in plan([src], src / "out", "png")] == ["a.jpg"]


def test_missing_input_and_partials(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such file"):
        plan([tmp_path / "nope"], tmp_path / "o", "png")
    _touch(tmp_path / "o" / ".a.png.abc.part")
    _touch(tmp_path / "o" / "a.png")
    assert clean_partials(tmp_path / "o") == 1
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["a.png"]


def test_same_names_from_two_inputs_do_not_collide(tmp_path: Path) -> None:
    one = _touch(tmp_path / "x" / "a.jpg")
    two = _touch(tmp_path / "y" / "a.jpg")
    outs = [Path(t.out).name for t in plan([one, two], tmp_path / "o", "png")]
    assert outs == ["a.png", "a.jpg.png"]


def test_pending_is_the_resume_rule(tmp_path: Path) -> None:
    done = _touch(tmp_path / "o" / "done.png")
    empty = _touch(tmp_path / "o" / "empty.png", b"")  # an empty file is not finished
    tasks = [Task("s1", str(done), "s1"), Task("s2", str(empty), "s2"),
             Task("s3", str(tmp_path / "o" / "missing.png"), "s3")]
    assert [t.rel for t in pending(tasks)] == ["s2", "s3"]
    assert pending(tasks, overwrite=True) == tasks
