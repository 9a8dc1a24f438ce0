"""Swagger UI at ``/docs`` and ReDoc at ``/redoc`` from files shipped in a wheel, never a CDN.

FastAPI's default pages load their scripts from jsDelivr (and fonts from Google), so they are
blank offline. ``fastapi-offline`` ships the same Swagger UI and ReDoc bundles; we only take its
static folder and hand FastAPI's own page builders local URLs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = "/docs-assets"
_VENDOR = Path(str(resources.files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Mount the vendored bundles and serve both pages (the app is built with docs_url=None)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_VENDOR), name="docs-assets")
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} {app.version}"

    @router.get("/docs", response_class=HTMLResponse)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} · API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/assets/favicon.svg",
            # The default validator badge would call validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get("/redoc", response_class=HTMLResponse)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{title} · ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url="/assets/favicon.svg", with_google_fonts=False,
        )

    app.include_router(router)
