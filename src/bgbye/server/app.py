"""The FastAPI app factory and ``serve`` (what ``bgbye serve`` runs)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from bgbye import __version__
from bgbye.errors import BgbyeError
from bgbye.monitoring import Metrics
from bgbye.server.errors import ERROR_RESPONSES, install_error_handlers
from bgbye.server.middleware import (
    BodyLimitMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
)
from bgbye.server.routes import (
    compat_clipdrop,
    compat_rembg,
    compat_removebg,
    ops,
    process,
    ui,
    v1,
)
from bgbye.server.routes.docs import install_docs
from bgbye.server.routes.ui import STATIC_DIR
from bgbye.server.service import Backend
from bgbye.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Self-hosted background removal.

* `POST /v1/remove`: one image in, the cut-out out (or JSON with `Accept: application/json`).
* `POST /v1/jobs`: many images or a zip; poll `GET /v1/jobs/{id}`, fetch `GET /v1/jobs/{id}/result`.
* `POST /process/local`, `POST /process/api`: the seed project's endpoints, unchanged.

Errors are always `{"error": {"code": "...", "message": "..."}}`. When the server sets
`BGBYE_API_KEYS`, send one of them as `X-API-Key`.
"""


def body_limits(settings: Settings) -> tuple[int, int]:
    """(single request, job request) body limits: an image plus a background image plus form
    overhead; a job may carry up to max_batch_files images."""
    overhead = 1 << 20
    single = 2 * settings.max_upload_bytes + overhead
    job = settings.max_upload_bytes * settings.max_batch_files + overhead
    return single, job


def create_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    """The app; it owns ``metrics`` (a fresh registry unless given), served on /metrics."""
    settings = settings or get_settings()
    metrics = metrics if metrics is not None else Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = Backend(settings, metrics)
        await backend.start()
        app.state.backend = backend
        log.info("bgbye %s ready (model %s, %d threads)", __version__, settings.default_model,
                 settings.threads)
        try:
            yield
        finally:
            await backend.stop()

    app = FastAPI(title="bgbye", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  responses=ERROR_RESPONSES, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.metrics = metrics
    # The compatible APIs answer errors in the shape their clients parse.
    envelopes = {
        compat_removebg.PREFIX + "/": compat_removebg.envelope,
        compat_rembg.PREFIX: compat_rembg.envelope,
        compat_clipdrop.CLIPDROP_PATH: compat_clipdrop.clipdrop_envelope,
        compat_clipdrop.PHOTOROOM_PATH: compat_clipdrop.photoroom_envelope,
    }
    install_error_handlers(app, metrics, envelopes)
    app.include_router(ui.router)
    app.include_router(process.router)
    app.include_router(v1.router)
    app.include_router(ops.router)
    app.include_router(compat_removebg.router)
    app.include_router(compat_rembg.router)
    app.include_router(compat_clipdrop.router)
    install_docs(app)  # offline Swagger UI and ReDoc
    app.mount("/assets", StaticFiles(directory=STATIC_DIR), name="assets")

    single, job = body_limits(settings)
    app.add_middleware(BodyLimitMiddleware,
                       limit_for=lambda path: job if path == "/v1/jobs" else single,
                       idle_timeout=settings.upload_idle_timeout_seconds, metrics=metrics,
                       envelopes=envelopes)
    app.add_middleware(SecurityHeadersMiddleware)  # on every response, 413s included
    # Outermost: sees every status, 413s included.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the server in this process (one worker: models are loaded once and shared by the
    inference threads)."""
    import uvicorn

    from bgbye.server.jobs.urls import check_database_url

    if settings.database_url:  # a typo fails here, in one sentence, not at the first request
        try:
            check_database_url(settings.database_url)
        except BgbyeError as exc:
            raise SystemExit(f"error: {exc.message}") from None

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # `bgbye serve` configured logging for WARNING already (basicConfig above is then a no-op):
    # a server's operator needs INFO (ready, jobs resumed after a restart).
    app_log = logging.getLogger("bgbye")
    if app_log.getEffectiveLevel() > logging.INFO:
        app_log.setLevel(logging.INFO)
    if settings.database_url:  # unreachable for the whole start-up timeout: one line, no trace
        from bgbye.server.jobs.postgres import migrate_database

        try:
            migrate_database(settings.database_url,
                             timeout=settings.database_startup_timeout_seconds)
        except BgbyeError as exc:
            raise SystemExit(f"error: {exc.message}") from None
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level="info", proxy_headers=True, server_header=False)
