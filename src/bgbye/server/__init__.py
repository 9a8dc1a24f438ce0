"""The web server: website, seed-compatible ``/process/*`` endpoints and the ``/v1`` API.

``create_app(settings)`` builds the FastAPI app; ``serve(settings)`` runs it under uvicorn.
"""

from __future__ import annotations

from bgbye.server.app import create_app, serve

__all__ = ["create_app", "serve"]
