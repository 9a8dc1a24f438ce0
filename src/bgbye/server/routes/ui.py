"""The website (``/`` and ``/assets``) and the files the seed-compatible endpoints hand out."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from bgbye.server.deps import BackendDep
from bgbye.server.errors import NotFoundError

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(str(resources.files("bgbye.server") / "static"))


@router.get("/", response_class=HTMLResponse)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


def _stored(backend: BackendDep, kind: str, name: str) -> FileResponse:
    path = backend.files.open(kind, name)
    if path is None:
        raise NotFoundError(f"No such file (it may have expired): /static/{kind}/{name}")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=300",
                                       "X-Content-Type-Options": "nosniff"})


@router.get("/static/uploads/{name}")
async def upload_file(backend: BackendDep, name: str) -> FileResponse:
    return _stored(backend, "uploads", name)


@router.get("/static/results/{name}")
async def result_file(backend: BackendDep, name: str) -> FileResponse:
    return _stored(backend, "results", name)
