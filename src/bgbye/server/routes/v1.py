"""The ``/v1`` API: one image in, one image out; batch jobs; the model list."""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import PurePosixPath
from typing import Annotated, Any, BinaryIO
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from bgbye.errors import (
    BgbyeError,
    EmptyInputError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidOptionError,
)
from bgbye.server.deps import (
    BackendDep,
    OptionsDep,
    read_upload,
    reject_unknown_fields,
    require_api_key,
)
from bgbye.server.errors import (
    ConflictError,
    GoneError,
    MissingFieldError,
    NotFoundError,
    TooManyFilesError,
)
from bgbye.server.jobs import FINISHED, Job, JobState, JobView, NewItem
from bgbye.server.routes.common import result_meta
from bgbye.server.service import Backend
from bgbye.server.urlfetch import fetch_image

router = APIRouter(prefix="/v1", tags=["v1"],
                   dependencies=[Depends(require_api_key), Depends(reject_unknown_fields)])

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
ZIP_MAGIC = b"PK\x03\x04"

ModelForm = Annotated[str | None, Form(
    description="Local model name (see GET /v1/models); the default if omitted.")]
ProviderForm = Annotated[str | None, Form(
    description="Online provider instead of a model: removebg, clipdrop or photoroom "
                "(or a fallback list such as removebg,local).")]


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "image/" not in accept


@router.post(
    "/remove",
    summary="Remove the background of one image",
    responses={200: {"content": {"image/png": {}, "image/webp": {}, "image/jpeg": {},
                                 "application/json": {}},
                     "description": "The image, or with Accept: application/json base64 and "
                                    "metadata."}},
    response_class=Response,
)
async def remove(
    request: Request,
    backend: BackendDep,
    options: OptionsDep,
    image: Annotated[UploadFile | None, File(
        description="The photo (JPEG, PNG, WebP, BMP, TIFF, GIF); or send image_url.")] = None,
    image_url: Annotated[str | None, Form(
        description="Fetch the photo from this http(s) URL instead (public addresses only, "
                    "unless BGBYE_FETCH_ALLOW lists it).")] = None,
    model: ModelForm = None,
    provider: ProviderForm = None,
) -> Response:
    ref = backend.engine_ref(model=model or None, provider=provider or None)
    data = await _source(backend, image, (image_url or "").strip() or None)
    backend.check_image(data)
    result = await backend.remove(ref, data, options)
    meta = result_meta(result)
    if _wants_json(request):
        return JSONResponse({"image": base64.b64encode(result.data).decode("ascii"), **meta})
    name = image.filename if image is not None else urlsplit(image_url or "").path
    stem = PurePosixPath(name or "image").stem or "image"
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem)[:100]
    headers = {
        "Content-Disposition": f'inline; filename="{stem}.{result.format}"',
        "X-Bgbye-Engine": result.engine.encode("ascii", "replace").decode(),
        "X-Bgbye-Seconds": f"{result.seconds:.4f}",
        "X-Bgbye-Width": str(result.width),
        "X-Bgbye-Height": str(result.height),
        "X-Bgbye-Mocked": "true" if meta["mocked"] else "false",
    }
    if "license_notice" in meta["info"]:  # a non-commercial model: every result says so
        headers["X-Bgbye-License"] = str(meta["info"]["license_notice"])
    return Response(result.data, media_type=result.media_type, headers=headers)


async def _source(backend: Backend, image: UploadFile | None, url: str | None) -> bytes:
    """The image bytes: the upload or the URL's, exactly one of them."""
    uploaded = image is not None and bool(image.filename or image.size)
    if uploaded and url:
        raise InvalidOptionError("Send either image or image_url, not both.")
    if url:
        return await fetch_image(url, backend.settings)
    if image is None or not uploaded:
        raise MissingFieldError("image: send the photo as `image`, or its URL as `image_url`.")
    return await read_upload(image, backend.settings.max_upload_bytes)


def _check(backend: Backend, name: str, data: bytes) -> NewItem:
    """Header-only check per file: a bad file becomes a per-item error, not a failed job."""
    try:
        if not data:
            raise EmptyInputError(f"{name} is empty (0 bytes).")
        backend.check_image(data)
    except BgbyeError as exc:
        return NewItem(name, None, exc)
    return NewItem(name, data)


def _is_junk(name: str) -> bool:
    """macOS resource forks and hidden files (``..`` is not hidden: it is sanitised later)."""
    return any(p == "__MACOSX" or (p.startswith(".") and p not in (".", ".."))
               for p in PurePosixPath(name).parts)


def _zip_items(backend: Backend, source: BinaryIO) -> list[NewItem]:
    """Unpack a zip's files, checking counts and declared sizes before reading any member.

    ``source`` is the upload's spooled temp file: the zip itself is never held in memory."""
    limit = backend.settings.max_upload_bytes
    try:
        zf = zipfile.ZipFile(source)
        members = [m for m in zf.infolist() if not m.is_dir() and not _is_junk(m.filename)]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidImageError(f"The zip file is corrupt: {exc}") from exc
    if len(members) > backend.settings.max_batch_files:
        raise TooManyFilesError(f"The zip holds {len(members)} files; the limit per job is "
                                f"{backend.settings.max_batch_files}.")
    items = []
    for m in members:
        if m.file_size > limit:
            items.append(NewItem(m.filename, None, ImageTooLargeError(
                f"{m.filename} is {m.file_size:,} bytes; the limit is {limit:,} bytes.")))
            continue
        try:
            with zf.open(m) as fh:
                content = fh.read(limit + 1)  # the header's size may lie: never read past it
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            items.append(NewItem(m.filename, None, InvalidImageError(
                f"{m.filename} could not be extracted: {exc}")))
            continue
        if len(content) > limit:
            items.append(NewItem(m.filename, None, ImageTooLargeError(
                f"{m.filename} is larger than the limit of {limit:,} bytes.")))
            continue
        items.append(_check(backend, m.filename, content))
    return items


async def _job_items(backend: Backend, images: list[UploadFile]) -> list[NewItem]:
    files = [f for f in images if f.filename or f.size]
    if not files:
        raise EmptyInputError("No files: send one or more `images` files, or one zip.")
    if len(files) > backend.settings.max_batch_files:
        raise TooManyFilesError(f"{len(files)} files sent; the limit per job is "
                                f"{backend.settings.max_batch_files}.")
    if len(files) == 1:
        head = await files[0].read(4)
        await files[0].seek(0)
        if head == ZIP_MAGIC:
            zip_limit = backend.settings.max_upload_bytes * backend.settings.max_batch_files
            if files[0].size is not None and files[0].size > zip_limit:
                raise ImageTooLargeError(f"The zip file is {files[0].size:,} bytes; the limit "
                                         f"is {zip_limit:,} bytes.")
            items = await run_in_threadpool(_zip_items, backend, files[0].file)
            if not items:
                raise EmptyInputError("The zip file holds no files.")
            return items
    items = []
    for i, upload in enumerate(files):
        name = upload.filename or f"image-{i + 1}"
        try:
            data = await read_upload(upload, backend.settings.max_upload_bytes)
        except BgbyeError as exc:
            items.append(NewItem(name, None, exc))
            continue
        items.append(_check(backend, name, data))
    return items


@router.post("/jobs", status_code=202, summary="Start a batch job (many images or one zip)",
             response_model=JobView)
async def create_job(
    backend: BackendDep,
    options: OptionsDep,
    images: Annotated[list[UploadFile], File(
        description="Many image files, or one zip of images (folders are kept in the result).")],
    model: ModelForm = None,
    provider: ProviderForm = None,
) -> JobView:
    ref = backend.engine_ref(model=model or None, provider=provider or None)
    items = await _job_items(backend, images)
    job = await run_in_threadpool(backend.jobs.create, ref, options.to_record(), items,
                                  backend.job_extra_files(options))
    backend.runner.submit(job.id)
    return job.view()


def _job(backend: Backend, job_id: str) -> Job:
    job = backend.jobs.get(job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise NotFoundError(f"No job {job_id!r}.", code="unknown_job")
    return job


@router.get("/jobs/{job_id}", summary="Job status, counts and per-item errors",
            response_model=JobView)
async def get_job(backend: BackendDep, job_id: str) -> JobView:
    job = await run_in_threadpool(_job, backend, job_id)
    return job.view()


@router.get("/jobs/{job_id}/result", summary="The job's outputs as a zip (streamed)",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}}}})
async def get_job_result(backend: BackendDep, job_id: str) -> StreamingResponse:
    job = await run_in_threadpool(_job, backend, job_id)
    if job.state == JobState.EXPIRED:
        raise GoneError(f"Job {job_id} finished more than "
                        f"{backend.settings.result_ttl_seconds} s ago; its files were deleted.")
    if job.state not in FINISHED:
        raise ConflictError(f"Job {job_id} is {job.state.value}; poll GET /v1/jobs/{job_id}.")
    return StreamingResponse(
        backend.jobs.iter_result_zip(job), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="bgbye-{job_id}.zip"'},
    )


@router.get("/models", summary="Local models and online providers")
async def list_models(backend: BackendDep) -> dict[str, Any]:
    return await run_in_threadpool(backend.models)

