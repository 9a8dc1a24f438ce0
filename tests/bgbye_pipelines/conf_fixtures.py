"""The project's own Kedro parameters of an environment (base deep-merged with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONF = Path(__file__).resolve().parents[2] / "conf"


def env_parameters(env: str) -> dict[str, Any]:
    from kedro.config import OmegaConfigLoader

    from bgbye_pipelines.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)
    return dict(loader["parameters"])
