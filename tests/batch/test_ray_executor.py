"""The Ray Data executor against the local executor, on a local 2-CPU Ray.

The pure parts (URL planning, reads/writes through fsspec, the actor's batch callable, the
KubeRay manifest) run in-process without Ray in the default suite; the end-to-end tests
(marker ``ray``) share one local Ray started once per module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgbye.batch import LocalExecutor, RayExecutor, remove_folder
from bgbye.batch.files import read_sources, write_output
from bgbye.batch.plan import pending, plan
from bgbye.batch.ray_executor import RemoveBatch
from bgbye.options import RemoveOptions
from bgbye.remover import Remover
from bgbye.settings import Settings
from tests.conftest import image_bytes

pytest.importorskip("fsspec")
ROOT = Path(__file__).resolve().parents[2]


def make_tree(root: Path) -> Path:
    """Nested folders, a stem collision (a.jpg + a.png), a hidden folder and a non-image."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a.jpg").write_bytes(image_bytes("JPEG", 64, 48, quality=90))
    (root / "a.png").write_bytes(image_bytes("PNG", 40, 30))
    (root / "sub" / "b.webp").write_bytes(image_bytes("WEBP", 50, 50))
    (root / "sub" / "deeper" / "c.png").write_bytes(image_bytes("PNG", 33, 21))
    (root / ".hidden" / "skip.png").write_bytes(image_bytes("PNG"))
    (root / "notes.txt").write_text("not an image")
    return root


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def alpha(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))[..., 3]


def run_local_reference(src: Path, dst: Path, settings: Settings) -> None:
    remover = Remover.from_model(None, settings, threads=1)
    remove_folder(src, dst, settings=settings, executor=LocalExecutor(2, remover=remover))


def assert_same_outputs(a: Path, b: Path) -> None:
    assert files(a) == files(b)
    for rel in files(a):
        np.testing.assert_array_equal(alpha(a / rel), alpha(b / rel), err_msg=rel)


# --- without Ray ---------------------------------------------------------------------------------


def test_url_planning_matches_local_planning(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "in")
    local = plan([src], tmp_path / "out", "png")
    url = plan([src.as_uri()], (tmp_path / "out").as_uri(), "png")
    assert [(i.rel, Path(i.out).relative_to(tmp_path)) for i in local] == [
        (i.rel, Path(i.out.removeprefix("file://")).relative_to(tmp_path)) for i in url
    ]
    assert {i.rel for i in url} == {"a.jpg", "a.png", "sub/b.webp", "sub/deeper/c.png"}
    assert any(i.out.endswith("/a.png.png") for i in url)  # the collision rule


def test_url_planning_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such file or folder"):
        plan([(tmp_path / "nope").as_uri()], (tmp_path / "out").as_uri(), "png")


def test_memory_filesystem_batch_roundtrip(settings: Settings) -> None:
    """The actor callable end to end on fsspec's memory://: read, one corrupt file, write."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file("/rt/in/x.png", image_bytes("PNG"))
    fs.pipe_file("/rt/in/d/y.jpg", image_bytes("JPEG"))
    fs.pipe_file("/rt/in/bad.png", b"\x89PNG broken")
    try:
        items = plan(["memory://rt/in"], "memory://rt/out", "png")
        assert len(pending(items)) == 3
        batch = {k: np.array([getattr(i, k) for i in items], dtype=object)
                 for k in ("src", "out", "rel")}
        result = RemoveBatch(None, settings, RemoveOptions())(batch)
        by_rel = dict(zip(result["rel"], zip(result["ok"], result["code"], strict=True),
                          strict=True))
        assert by_rel == {"bad.png": (False, "invalid_image"), "d/y.jpg": (True, ""),
                          "x.png": (True, "")}
        assert sorted(fs.find("/rt/out")) == ["/rt/out/d/y.png", "/rt/out/x.png"]
        assert not [p for p in fs.find("/rt") if p.endswith(".part")]
        assert [i.rel for i in pending(items)] == ["bad.png"]  # resume skips finished
    finally:
        fs.rm("/rt", recursive=True)


def test_local_input_to_url_output(tmp_path: Path, settings: Settings) -> None:
    import fsspec

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "p.png").write_bytes(image_bytes("PNG"))
    fs = fsspec.filesystem("memory")
    try:
        items = plan([tmp_path / "in"], "memory://mixed/out", "webp")
        assert [i.src for i in items] == [str(tmp_path / "in" / "p.png")]
        # A plain local path as the source of a URL output (a caller building rows itself).
        batch = {"src": np.array([str(tmp_path / "in" / "p.png")], dtype=object),
                 "out": np.array([items[0].out], dtype=object),
                 "rel": np.array([items[0].rel], dtype=object)}
        result = RemoveBatch(None, settings, RemoveOptions(format="webp"))(batch)
        assert list(result["ok"]) == [True], list(result["message"])
        assert fs.cat_file("/mixed/out/p.webp")[:4] == b"RIFF"
    finally:
        fs.rm("/mixed", recursive=True)


def test_read_sources_reports_missing_files_per_item(tmp_path: Path) -> None:
    good = tmp_path / "g.png"
    good.write_bytes(b"abc")
    out = read_sources([str(good), good.as_uri(), (tmp_path / "missing.png").as_uri(),
                        str(tmp_path / "missing2.png")])
    assert out[0] == b"abc" and out[1] == b"abc"
    assert isinstance(out[2], Exception) and isinstance(out[3], OSError)


def test_write_output_file_url_is_atomic_and_makes_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "x.png"
    write_output(target.as_uri(), b"data")
    assert target.read_bytes() == b"data"
    assert files(tmp_path) == ["a/b/x.png"]


def test_unknown_model_becomes_failure_rows(settings: Settings) -> None:
    batch = {"src": np.array(["/x.png"], dtype=object), "out": np.array(["/y.png"], dtype=object),
             "rel": np.array(["x.png"], dtype=object)}
    result = RemoveBatch("no-such-model", settings, RemoveOptions())(batch)
    assert list(result["ok"]) == [False] and result["code"][0] == "unknown_model"


@pytest.mark.parametrize(("address", "expected"), [
    (None, "local"),  # starts a local Ray, even where RAY_ADDRESS is set
    ("auto", "auto"),  # joins the running cluster: never a local start
    ("ray://head:10001", "ray://head:10001"),
])
def test_ray_session_passes_the_address_through(monkeypatch: pytest.MonkeyPatch,
                                                address: str | None, expected: str) -> None:
    import sys
    import types

    from bgbye.batch.ray_executor import ray_session

    calls: list[dict[str, object]] = []
    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False  # type: ignore[attr-defined]
    fake.init = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    fake.shutdown = lambda: calls.append({"shutdown": True})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setenv("RAY_ADDRESS", "ray://from-the-environment:10001")
    with ray_session(address):
        pass
    assert calls[0]["address"] == expected
    assert ("num_cpus" in calls[0]) == (address is None)
    assert calls[-1] == {"shutdown": True}


# --- on a local Ray ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.mark.ray
def test_outputs_equal_local_executor(local_ray: None, tmp_path: Path, settings: Settings) -> None:
    src = make_tree(tmp_path / "in")
    run_local_reference(src, tmp_path / "local", settings)
    summary = remove_folder(src, tmp_path / "ray", settings=settings,
                            executor=RayExecutor(actors=2, batch_size=2))
    assert (summary.total, summary.done, summary.failed) == (4, 4, 0)
    assert summary.engine
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")


@pytest.mark.ray
def test_corrupt_input_is_reported_not_fatal_and_rerun_skips(
    local_ray: None, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``bgbye remove --ray`` in process: failures and the summary on stderr, the push."""
    from click.testing import CliRunner

    import bgbye.monitoring
    from bgbye import cli

    pushed: list[tuple[str, dict[str, float]]] = []
    monkeypatch.setattr(bgbye.monitoring, "push_batch_summary",
                        lambda url, summary: pushed.append((url, summary.as_metrics())))
    settings = settings.model_copy(update={"pushgateway_url": "http://pushgateway.test:9091"})
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    src = make_tree(tmp_path / "in")
    (src / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    argv = ["remove", str(src), "-o", str(out), "--ray", "--ray-actors", "2",
            "--ray-batch-size", "2"]
    result = CliRunner().invoke(cli.cli, argv)
    err = result.stderr
    assert result.exit_code == 1, err
    assert pushed[0][0] == "http://pushgateway.test:9091"
    assert pushed[0][1]["bgbye_batch_images_failed"] == 1
    assert pushed[0][1]["bgbye_batch_images_done"] == 4
    assert "failed: sub/broken.png:" in err
    assert "4 done, 0 skipped, 1 failed" in err
    assert "sub/broken.png" not in files(out) and len(files(out)) == 4

    first = {rel: (out / rel).stat().st_mtime_ns for rel in files(out)}
    (src / "sub" / "broken.png").unlink()
    again = CliRunner().invoke(cli.cli, argv[:5])
    assert again.exit_code == 0, again.stderr
    assert "0 done, 4 skipped, 0 failed" in again.stderr
    assert {rel: (out / rel).stat().st_mtime_ns for rel in files(out)} == first


@pytest.mark.ray
def test_file_urls_end_to_end(local_ray: None, tmp_path: Path, settings: Settings) -> None:
    src = make_tree(tmp_path / "in")
    run_local_reference(src, tmp_path / "local", settings)
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "a.png").write_bytes(b"")  # empty = unfinished: must be redone
    summary = remove_folder(src.as_uri(), (tmp_path / "ray").as_uri(), settings=settings,
                            executor=RayExecutor(batch_size=3))
    assert (summary.done, summary.skipped, summary.failed) == (4, 0, 0)
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")
    again = remove_folder(src.as_uri(), (tmp_path / "ray").as_uri(), settings=settings,
                          executor=RayExecutor())
    assert (again.done, again.skipped) == (0, 4)


@pytest.mark.ray
def test_real_photos_match_local(local_ray: None, tmp_path: Path, real_data: Path,
                                 u2netp_settings: Settings) -> None:
    images = sorted((real_data / "coco_mval" / "images").glob("*"))[:6]
    if not images:
        pytest.skip("no coco_mval images")
    src = tmp_path / "in"
    src.mkdir()
    for path in images:
        shutil.copy(path, src / path.name)
    run_local_reference(src, tmp_path / "local", u2netp_settings)
    summary = remove_folder(src, tmp_path / "ray", ref="u2netp", settings=u2netp_settings,
                            executor=RayExecutor(batch_size=2))
    assert summary.done == len(images) and summary.engine.startswith("u2netp")
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")



# --- the KubeRay manifest ------------------------------------------------------------------------


def test_ray_job_manifest_runs_the_cli_on_the_data_pvc() -> None:
    yaml = pytest.importorskip("yaml")
    validate = pytest.importorskip("kubernetes_validate")
    job = yaml.safe_load((ROOT / "k8s" / "ray-job.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["metadata"]["namespace"] == "bgbye"
    argv = job["spec"]["entrypoint"].split()
    assert argv[:2] == ["bgbye", "remove"] and "--ray" in argv
    # `--ray` takes an optional address: it must not swallow a path that follows it.
    following = argv[argv.index("--ray") + 1] if argv[-1] != "--ray" else "--"
    assert following.startswith("-")
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.60.0"
    templates = [cluster["headGroupSpec"]["template"]] + [
        group["template"] for group in cluster["workerGroupSpecs"]]
    for template in templates:
        spec = template["spec"]
        claims = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]]
        assert claims == ["bgbye-data"]
        mounts = [m["mountPath"] for c in spec["containers"] for m in c["volumeMounts"]]
        assert all(p.startswith(mounts[0]) for p in argv if p.startswith("/"))
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "check", "namespace": "bgbye"}, "spec": spec}
        validate.validate(pod, "1.30.0", strict=True)
