"""fetch() for real users: Range resume, truncated bodies, wrong hashes, 404, progress bar.

A local HTTP server serves probe files; it honours Range requests (or is told not to) and can
cut a body short, as a flaky network does.
"""

from __future__ import annotations

import hashlib
import http.server
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bgbye.errors import ChecksumMismatchError, FetchError, LicenseNotAcceptedError
from bgbye.models.fetch import fetch, partial_path
from bgbye.models.spec import ModelSpec

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Behaviour:
    honour_range: bool = True
    cut_after: int | None = None  # send only this many body bytes of the next response
    ranges: list[str | None] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    state = Behaviour()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/m.onnx":
                self.send_error(404)
                return
            rng = self.headers.get("Range")
            state.ranges.append(rng)
            start = 0
            if rng and state.honour_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(PAYLOAD):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
                )
            else:
                self.send_response(200)
            body = PAYLOAD[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                body, state.cut_after = body[: state.cut_after], None
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()


def _spec(url: str, **pins: object) -> ModelSpec:
    return ModelSpec.model_validate(
        {"name": "m", "url": url, **({"md5": MD5, "sha256": SHA} | pins)}
    )


def test_truncated_body_is_kept_and_resumed_with_range(
    server: tuple[str, Behaviour], tmp_path: Path
) -> None:
    base, state = server
    spec = _spec(f"{base}/m.onnx", size_bytes=len(PAYLOAD))
    state.cut_after = 300_000
    with pytest.raises(FetchError, match=r"broke after 300000 of 1048576 bytes.*resume"):
        fetch(spec, tmp_path)
    part = partial_path(spec, tmp_path)
    assert part.stat().st_size == 300_000 and not (tmp_path / "m.onnx").exists()
    path = fetch(spec, tmp_path)
    assert state.ranges == [None, "bytes=300000-"]  # the second request asked for the rest
    assert path.read_bytes() == PAYLOAD and not part.exists()
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_server_without_range_support_restarts_from_zero(
    server: tuple[str, Behaviour], tmp_path: Path
) -> None:
    base, state = server
    state.honour_range = False
    spec = _spec(f"{base}/m.onnx")
    partial_path(spec, tmp_path).write_bytes(b"stale prefix")
    assert fetch(spec, tmp_path).read_bytes() == PAYLOAD
    assert state.ranges == ["bytes=12-"]


def test_whole_partial_file_is_finished_without_a_body(
    server: tuple[str, Behaviour], tmp_path: Path
) -> None:
    base, _ = server
    spec = _spec(f"{base}/m.onnx")
    partial_path(spec, tmp_path).write_bytes(PAYLOAD)  # killed between download and rename
    assert fetch(spec, tmp_path).read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("pins", "needle"),
    [({"md5": "0" * 32}, "md5"), ({"sha256": "f" * 64}, "sha256"), ({"size_bytes": 5}, "bytes")],
)
def test_wrong_pinned_hash_or_size_is_refused(
    server: tuple[str, Behaviour], tmp_path: Path, pins: dict[str, object], needle: str
) -> None:
    base, _ = server
    spec = _spec(f"{base}/m.onnx", **pins)
    with pytest.raises(ChecksumMismatchError, match=needle) as err:
        fetch(spec, tmp_path)
    assert err.value.message.count(".") >= 1 and "\n" not in err.value.message
    assert list(tmp_path.iterdir()) == []  # nothing written, no partial kept to resume


def test_404_and_offline_are_one_sentence(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(FetchError) as err:
        fetch(_spec(f"{base}/missing.onnx"), tmp_path)
    assert err.value.message == (
        f"Could not fetch model 'm': upstream: {base.removeprefix('http://')} answered "
        f"404 Not Found for {base}/missing.onnx."
    )
    with pytest.raises(FetchError, match=r"cannot connect to 127\.0\.0\.1:9 \(offline"):
        fetch(_spec("http://127.0.0.1:9/m.onnx"), tmp_path, timeout=2)


def test_unwritable_model_dir_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FetchError, match="cannot write to"):
        fetch(_spec("http://127.0.0.1:9/m.onnx"), blocker / "models")


def test_progress_is_reported_from_the_resume_point(
    server: tuple[str, Behaviour], tmp_path: Path
) -> None:
    base, _ = server
    spec = _spec(f"{base}/m.onnx")
    partial_path(spec, tmp_path).write_bytes(PAYLOAD[:1000])
    calls: list[tuple[int, int | None]] = []
    fetch(spec, tmp_path, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1000, len(PAYLOAD)) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))


def test_non_commercial_model_needs_acceptance(
    server: tuple[str, Behaviour], tmp_path: Path
) -> None:
    base, state = server
    spec = _spec(f"{base}/m.onnx", non_commercial=True, license="CC-BY-NC-4.0")
    with pytest.raises(LicenseNotAcceptedError, match="--accept-license m"):
        fetch(spec, tmp_path)
    assert state.ranges == []  # refused before any download
    assert fetch(spec, tmp_path, accepted=["CC-BY-NC-4.0"]).read_bytes() == PAYLOAD


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_one_sentence(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    base, _ = server
    spec = _spec(f"{base}/m.onnx")
    partial_path(spec, tmp_path).symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(FetchError) as err:
        fetch(spec, tmp_path)
    assert err.value.message == (
        f"Could not fetch model 'm': upstream: the disk is full (writing to {tmp_path})."
    )
    assert not (tmp_path / "m.onnx").exists()
