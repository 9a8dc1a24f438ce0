"""Helpers the routers share."""

from __future__ import annotations

import json
from typing import Any

from bgbye.remover import RemoveResult


def json_safe(info: dict[str, Any]) -> dict[str, Any]:
    """Engine info as plain JSON (providers may put odd objects in it)."""
    data: dict[str, Any] = json.loads(json.dumps(info, default=str))
    return data


def result_meta(result: RemoveResult) -> dict[str, Any]:
    info = json_safe(result.info)
    return {
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "media_type": result.media_type,
        "engine": result.engine,
        "seconds": round(result.seconds, 4),
        "mocked": bool(info.get("mocked", False)),
        "info": info,
    }
