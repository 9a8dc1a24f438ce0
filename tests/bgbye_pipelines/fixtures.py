"""Test data made by code for the data pipelines: pair folders, archives, a local HTTP server
(with Range, truncation and 404s) and a Google Drive look-alike that gdown talks to."""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from bgbye import imageio
from bgbye_pipelines.pipelines.data_ingestion.synthetic import write_pairs


def pair_folder(
    root: Path,
    count: int = 6,
    *,
    width: int = 64,
    height: int = 48,
    seed: int = 0,
    soft: bool = False,
) -> Path:
    """``root/images/*.jpg`` + ``root/masks/*.png`` (generated shapes on textures)."""
    return write_pairs(root, count=count, width=width, height=height, seed=seed, soft=soft)


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(imageio.encode(array, "png"))
    return path


def zip_folder(folder: Path, dest: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, prefix + file.relative_to(folder).as_posix())
    return dest


def tar_folder(folder: Path, dest: Path, *, prefix: str = "") -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                tf.add(file, prefix + file.relative_to(folder).as_posix())
    return dest


def zip_with_member(dest: Path, name: str, data: bytes = b"x") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr(name, data)
    return dest


def tar_with_symlink(dest: Path, name: str = "link", target: str = "/etc/passwd") -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        tf.addfile(info)
    return dest


@dataclass
class FileServer:
    """What the handler serves and what it saw. ``truncate_once`` names files whose first
    response announces the full length but stops halfway (a dropped connection)."""

    files: dict[str, bytes] = field(default_factory=dict)
    truncate_once: set[str] = field(default_factory=set)
    ignore_range: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    drive: dict[str, str] = field(default_factory=dict)  # Drive id -> served file name or mode
    url: str = ""


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(
                {"path": parts.path, "query": parts.query, "range": self.headers.get("Range")}
            )
            if parts.path in ("/uc", "/download"):
                return self._drive(parts.path, parse_qs(parts.query))
            name = parts.path.lstrip("/")
            if name not in state.files:
                return self._send(404, b"not found", "text/plain")
            return self._file(name)

        def _send(
            self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _file(self, name: str, headers: dict[str, str] | None = None) -> None:
            data = state.files[name]
            rng = self.headers.get("Range")
            if rng and not state.ignore_range:
                start = int(rng.split("=")[1].split("-")[0])
                if start >= len(data):
                    return self._send(
                        416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"}
                    )
                body = data[start:]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if name in state.truncate_once:
                state.truncate_once.discard(name)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _drive(self, path: str, query: dict[str, list[str]]) -> None:
            file_id = query.get("id", [""])[0]
            mode = state.drive.get(file_id)
            if mode is None:
                return self._send(404, b"<html>not found</html>", "text/html")
            if mode == "quota":
                page = (
                    '<html><body><p class="uc-error-subcaption">Too many users have viewed or '
                    "downloaded this file recently.</p></body></html>"
                )
                return self._send(200, page.encode(), "text/html; charset=utf-8")
            name = mode.removeprefix("confirm:")
            if mode.startswith("confirm:") and path == "/uc":  # the virus-scan warning page
                page = (
                    '<html><body><form id="download-form" '
                    'action="https://drive.usercontent.google.com/download" method="get">'
                    f'<input type="hidden" name="id" value="{file_id}">'
                    '<input type="hidden" name="confirm" value="t"></form></body></html>'
                )
                return self._send(200, page.encode(), "text/html; charset=utf-8")
            return self._file(name, {"Content-Disposition": f'attachment; filename="{name}"'})

    return Handler


@contextlib.contextmanager
def serve(state: FileServer | None = None) -> Iterator[FileServer]:
    """A local HTTP server on a free port for the duration of the block."""
    state = state or FileServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def reroute_google(monkeypatch: Any, base_url: str) -> None:
    """Send gdown's requests for Google hosts to ``base_url``, keeping all of gdown's logic:
    only the transport is swapped (a requests adapter that rewrites the host)."""
    import importlib

    import requests

    gdown_download = importlib.import_module("gdown.download")  # the module, not the function

    class Reroute(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            parts = urlsplit(str(request.url))
            request.url = f"{base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
            return super().send(request, **kwargs)

    original = gdown_download._get_session

    def session(**kwargs: Any) -> Any:
        sess, cookies = original(**kwargs)
        for host in (
            "https://drive.google.com",
            "https://drive.usercontent.google.com",
            "https://docs.google.com",
        ):
            sess.mount(host, Reroute())
        return sess, cookies

    monkeypatch.setattr(gdown_download, "_get_session", session)


def archive_bytes(folder: Path, kind: str = "zip") -> bytes:
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w") as zf:
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    zf.write(file, file.relative_to(folder).as_posix())
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    tf.add(file, file.relative_to(folder).as_posix())
    return buf.getvalue()


def with_defaults(section: str, params: dict[str, Any]) -> dict[str, Any]:
    """A parameter section as a run sees it: conf/test's (a temporary data root, never the
    checkout's data/) with the test's own values on top."""
    from tests.bgbye_pipelines.conf_fixtures import env_parameters

    return {**env_parameters("test")[section], **params}


def project_catalog(data_root: Path) -> Any:
    """The project's DataCatalog of ``--env test`` with its data root at ``data_root``."""
    import os

    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from bgbye_pipelines.data_root import ENV_VAR, temp_data_root
    from bgbye_pipelines.settings import CONFIG_LOADER_ARGS
    from tests.bgbye_pipelines.conf_fixtures import CONF

    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(data_root)
    temp_data_root.cache_clear()
    try:
        conf = OmegaConfigLoader(str(CONF), env="test", **CONFIG_LOADER_ARGS)["catalog"]
    finally:
        if before is None:
            os.environ.pop(ENV_VAR)
        else:
            os.environ[ENV_VAR] = before
        temp_data_root.cache_clear()
    return DataCatalog.from_config(dict(conf))


# Catalog entries that only mean something on disk (lazy image partitions): run_pipeline takes
# them from the project's catalog instead of holding them in memory.
ON_DISK = ("model_input_images", "model_input_masks", "composited_source")


def run_pipeline(pipeline: Any, inputs: dict[str, Any], data_root: Path | None = None
                 ) -> dict[str, Any]:
    """Run a Kedro pipeline with SequentialRunner over an in-memory DataCatalog; return every
    dataset's value (inputs, intermediates and outputs). ``params:<section>`` inputs are
    completed with conf/test's values (see ``with_defaults``). The ``ON_DISK`` datasets are
    conf/test's catalog entries under ``data_root`` (params naming their folders, such as
    ``model_input_dir``, must point there too); their value is the loaded partitions."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    inputs = {k: with_defaults(k.removeprefix("params:"), v) if k.startswith("params:") else v
              for k, v in inputs.items()}

    class Kept(MemoryDataset):
        def _release(self) -> None:  # the runner frees intermediates; tests want to see them
            pass

    names = set(pipeline.datasets()) | set(inputs)
    datasets = {n: Kept(inputs[n]) if n in inputs else Kept() for n in names}
    on_disk = [n for n in ON_DISK if n in names]
    if on_disk:
        if data_root is None:
            raise ValueError(f"run_pipeline: {on_disk} need a data_root")
        project = project_catalog(data_root)
        datasets.update({n: project.get(n) for n in on_disk})
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return {n: catalog[n].load() for n in names if n in inputs or catalog.exists(n)}
