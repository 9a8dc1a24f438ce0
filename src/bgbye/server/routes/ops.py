"""Operations endpoints: liveness, readiness and Prometheus metrics (never behind the API key)."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bgbye import __version__
from bgbye.errors import BgbyeError
from bgbye.server.deps import BackendDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="Readiness: the default model is loaded, the job database answers",
            responses={503: {"description": "Not ready; the reason is in error.message"}})
async def readyz(backend: BackendDep) -> Response:
    reason = await run_in_threadpool(backend.not_ready_reason)
    if reason is None:
        return JSONResponse({"status": "ready", "model": backend.settings.default_model})
    return JSONResponse({"error": {"code": "not_ready", "message": reason}}, status_code=503,
                        headers={"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus exposition", response_class=Response)
async def metrics(backend: BackendDep) -> Response:
    # The job gauges come from the shared database; with it down, the rest is still served.
    with contextlib.suppress(BgbyeError):
        await run_in_threadpool(backend.jobs.publish_metrics)
    return Response(generate_latest(backend.metrics.registry), media_type=CONTENT_TYPE_LATEST)
