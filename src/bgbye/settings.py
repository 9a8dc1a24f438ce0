"""All runtime settings in one place (pydantic-settings, env prefix ``BGBYE_``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_model_dir() -> Path:
    return platformdirs.user_cache_path("bgbye") / "models"


def _default_storage_dir() -> Path:
    return platformdirs.user_data_path("bgbye") / "server"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGBYE_", extra="ignore", populate_by_name=True)

    model_dir: Path = Field(default_factory=_default_model_dir)
    default_model: str = "u2netp"
    # Extra folders searched for NAME.onnx + NAME.json (a Kedro run's outputs by default).
    extra_model_dirs: list[Path] = Field(default_factory=lambda: [Path("data/06_models")])
    storage_dir: Path = Field(default_factory=_default_storage_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: str = ""  # comma separated; empty means no auth
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_batch_files: int = 500
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1)
    queue_size: int = 16
    result_ttl_seconds: int = 3600
    # A request body that sends nothing for this long is answered 408 (slow-upload defence).
    upload_idle_timeout_seconds: float = 30.0
    pushgateway_url: str | None = None
    fetch_timeout_seconds: float = 10.0
    # Server-side fetches of image_url / bg_image_url: addresses, networks or host names let
    # through the SSRF guard (comma separated), and the redirects followed.
    fetch_allow: str = ""
    fetch_max_redirects: int = 3

    removebg_url: str = "https://api.remove.bg/v1.0"
    clipdrop_url: str = "https://clipdrop-api.co"
    photoroom_url: str = "https://sdk.photoroom.com"
    provider_timeout_seconds: float = 60.0

    # The seed's variable names, without the prefix.
    remove_bg_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("REMOVE_BG_API_KEY", "BGBYE_REMOVE_BG_API_KEY")
    )
    clipdrop_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("CLIPDROP_API_KEY", "BGBYE_CLIPDROP_API_KEY")
    )
    photoroom_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("PHOTOROOM_API_KEY", "BGBYE_PHOTOROOM_API_KEY")
    )

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests build their own ``Settings(...)`` instead."""
    return Settings()
