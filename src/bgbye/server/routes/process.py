"""Seed-compatible endpoints: the original project's ``/process/local`` and ``/process/api``.

Both store the upload and the PNG result under the storage folder and answer their URLs:
``{"before": "/static/uploads/<id>.<ext>", "after": "/static/results/<id>.png"}`` plus metadata.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from bgbye.options import RemoveOptions
from bgbye.server.deps import BackendDep, read_upload, reject_unknown_fields, require_api_key
from bgbye.server.routes.common import result_meta
from bgbye.server.service import Backend
from bgbye.server.storage import EXTENSIONS, new_id

router = APIRouter(prefix="/process", tags=["seed-compatible"],
                   dependencies=[Depends(require_api_key), Depends(reject_unknown_fields)])


async def _process(backend: Backend, image: UploadFile, ref: str) -> dict[str, Any]:
    data = await read_upload(image, backend.settings.max_upload_bytes)
    info = backend.check_image(data)
    result = await backend.remove(ref, data, RemoveOptions(format="png"))
    file_id = new_id()
    upload_name = f"{file_id}.{EXTENSIONS.get(info.format, 'png')}"
    result_name = f"{file_id}.png"
    await run_in_threadpool(backend.files.save, "uploads", upload_name, data)
    await run_in_threadpool(backend.files.save, "results", result_name, result.data)
    return {"before": f"/static/uploads/{upload_name}", "after": f"/static/results/{result_name}",
            **result_meta(result)}


@router.post("/local", summary="Remove the background with a local model (seed-compatible)")
async def process_local(
    backend: BackendDep,
    image: Annotated[UploadFile, File(description="The photo.")],
    model: Annotated[str | None, Form(description="Model name; the default if omitted.")] = None,
) -> dict[str, Any]:
    return await _process(backend, image, backend.engine_ref(model=model or None))


@router.post("/api", summary="Remove the background with an online provider (seed-compatible)")
async def process_api(
    backend: BackendDep,
    image: Annotated[UploadFile, File(description="The photo.")],
    provider: Annotated[str, Form(
        description="remove.bg, clipdrop or photoroom. Without the provider's API key the "
                    "answer is a watermarked local result marked \"mocked\": true.")],
) -> dict[str, Any]:
    return await _process(backend, image, backend.engine_ref(provider=provider))
