"""Cached, resumable, verified downloads: plain HTTP(S) with Range, Google Drive through gdown.

A download lands in ``<cache>/<file>.part`` first and is renamed only when complete (and, when
a checksum is given, verified), so an interrupted run resumes where it stopped and a finished
file is never re-downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from bgbye_pipelines.pipelines.data_ingestion.sources import IngestionError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Small network chunks: on a dropped connection everything before the last chunk is kept.
NET_CHUNK = 1 << 16
GDRIVE_URL = "https://drive.google.com/uc?id={id}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def filename_from_url(url: str) -> str:
    name = Path(unquote(urlsplit(url).path)).name
    return name or "download"


def _verify(path: Path, sha256: str | None, label: str) -> None:
    if sha256 is None:
        return
    actual = sha256_file(path)
    if actual != sha256:
        path.unlink(missing_ok=True)  # a wrong file must not be served from the cache again
        raise IngestionError(
            f"{label}: checksum mismatch (expected sha256 {sha256}, got {actual}); "
            "the file was deleted, run again to re-download"
        )


def download_http(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    label: str = "",
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); return ``dest``."""
    label = label or url
    if dest.is_file():
        _verify(dest, sha256, label)
        if dest.is_file():
            log.info("%s: using cached %s", label, dest)
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    # identity: byte offsets for Range must be those of the file as stored.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with httpx.stream(
            "GET", url, headers=headers, timeout=timeout, follow_redirects=True
        ) as res:
            if res.status_code == 416 and have:  # the part file is already whole
                expected = None
            elif res.status_code == 206 and have:
                expected = _expected_total(res, have)
            elif res.status_code == 200:
                have = 0  # the server ignored Range: start over
                expected = _int(res.headers.get("content-length"))
            else:
                raise IngestionError(f"{label}: HTTP {res.status_code} from {url}")
            if res.status_code != 416:
                with part.open("ab" if have else "wb") as fh:
                    for block in res.iter_raw(NET_CHUNK):
                        fh.write(block)
    except httpx.HTTPError as exc:
        raise IngestionError(
            f"{label}: download interrupted or unreachable ({type(exc).__name__}: {exc}); "
            f"{part.stat().st_size if part.exists() else 0} bytes kept in {part} for resuming"
        ) from exc
    got = part.stat().st_size
    if expected is not None and got != expected:
        raise IngestionError(
            f"{label}: truncated download ({got} of {expected} bytes); run again to resume"
        )
    os.replace(part, dest)
    _verify(dest, sha256, label)
    return dest


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _expected_total(res: httpx.Response, have: int) -> int | None:
    # Content-Range: bytes 100-999/1000
    total = res.headers.get("content-range", "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = _int(res.headers.get("content-length"))
    return have + length if length is not None else None


def download_gdrive(
    file_id: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 60.0,
    label: str = "",
) -> Path:
    """A Google Drive file through gdown (handles the virus-scan confirmation page)."""
    import gdown
    from gdown.exceptions import DownloadError, FileURLRetrievalError

    label = label or f"gdrive:{file_id}"
    if dest.is_file():
        _verify(dest, sha256, label)
        if dest.is_file():
            log.info("%s: using cached %s", label, dest)
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = gdown.download(
            url=GDRIVE_URL.format(id=file_id),
            output=str(dest),
            quiet=True,
            resume=True,
            use_cookies=False,
            timeout=timeout,
            retries=1,
        )
    except FileURLRetrievalError as exc:
        reason = " ".join(str(exc).split())
        raise IngestionError(f"{label}: Google Drive refused the download: {reason}") from exc
    except (DownloadError, OSError) as exc:
        raise IngestionError(f"{label}: Google Drive download failed: {exc}") from exc
    except Exception as exc:  # requests errors (HTTPError, ConnectionError...)
        raise IngestionError(
            f"{label}: Google Drive unreachable ({type(exc).__name__}: {exc})"
        ) from exc
    if not out or not dest.is_file():
        raise IngestionError(f"{label}: Google Drive returned no file")
    _verify(dest, sha256, label)
    return dest
