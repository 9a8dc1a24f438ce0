"""All runtime settings in one place (pydantic-settings, env prefix ``BGBYE_``)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def _default_model_dir() -> Path:
    return platformdirs.user_cache_path("bgbye") / "models"


def _default_storage_dir() -> Path:
    return platformdirs.user_data_path("bgbye") / "server"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGBYE_", extra="ignore", populate_by_name=True)

    model_dir: Path = Field(default_factory=_default_model_dir)
    default_model: str = "u2netp"
    # Extra folders searched for NAME.onnx + NAME.json. None here (the library's model list
    # never depends on the working directory); the CLI and server add the Kedro outputs of the
    # project they run in (see get_settings).
    extra_model_dirs: list[Path] = Field(default_factory=list)
    storage_dir: Path = Field(default_factory=_default_storage_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: str = ""  # comma separated; empty means no auth
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_batch_files: int = 500
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1)
    # auto: OpenVINO when installed (bgbye[openvino]) and no GPU, else ONNX Runtime.
    runtime: Literal["auto", "onnxruntime", "openvino"] = "auto"
    # fp32 unless asked: bf16 (OpenVINO) and int8 (a quantized variant) trade a measured bit
    # of quality for speed; see docs/performance.md.
    precision: Literal["fp32", "bf16", "int8"] = "fp32"
    queue_size: int = 16
    result_ttl_seconds: int = 3600
    # A request body that sends nothing for this long is answered 408 (slow-upload defence).
    upload_idle_timeout_seconds: float = 30.0
    pushgateway_url: str | None = None
    # Jobs: PostgreSQL (postgresql://...) shared by replicas; unset, SQLite in storage_dir.
    database_url: str | None = None
    database_startup_timeout_seconds: float = 30.0
    # Job inputs/outputs: a folder or fsspec URL (s3://bucket/prefix); unset, storage_dir.
    storage_url: str | None = None
    # This process's name in job leases and metrics (a pod's hostname is its name).
    replica: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    job_lease_seconds: float = 30.0
    job_poll_seconds: float = 1.0
    # On SIGTERM: finish the items in hand for this long, then hand the rest back to the queue.
    shutdown_grace_seconds: float = 20.0
    # Where `bgbye remove --ray` (without an address) runs; Ray's own variable, read here so
    # the library never reads the environment itself.
    ray_address: str | None = Field(
        default=None, validation_alias=AliasChoices("BGBYE_RAY_ADDRESS", "RAY_ADDRESS"))
    fetch_timeout_seconds: float = 10.0
    # Server-side fetches of image_url / bg_image_url: addresses, networks or host names let
    # through the SSRF guard (comma separated), and the redirects followed.
    fetch_allow: str = ""
    fetch_max_redirects: int = 3
    # Models (or licence ids) whose non-commercial licence the operator accepts, comma separated.
    accept_licenses: str = ""

    provider_timeout_seconds: float = 60.0
    # Online providers by canonical name. Each client class declares the variables read into
    # these (the seed's REMOVE_BG_API_KEY..., BGBYE_REMOVEBG_URL...): see ProviderEnvSource.
    provider_keys: dict[str, str] = Field(default_factory=dict)
    provider_urls: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, ProviderEnvSource(settings_cls), dotenv_settings,
                file_secret_settings)

    @classmethod
    def defaults(cls) -> Settings:
        """The documented defaults, without reading the environment (library use)."""
        return cls.model_construct()

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]


class ProviderEnvSource(PydanticBaseSettingsSource):
    """Provider keys and URLs from the variables each provider client class declares
    (``key_env``, also with the ``BGBYE_`` prefix, and ``url_env``)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        # Imported here, when settings are built: the providers' module imports settings.
        from bgbye.engines.providers import registry

        keys, urls = {}, {}
        for name, client in registry().items():
            key = os.environ.get(client.key_env) or os.environ.get(f"BGBYE_{client.key_env}")
            if key:
                keys[name] = key
            if url := os.environ.get(client.url_env):
                urls[name] = url
        return {"provider_keys": keys, "provider_urls": urls}


KEDRO_MODELS = Path("data") / "06_models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The front ends' settings (``bgbye`` CLI, ``bgbye serve``): the environment, plus the
    models a Kedro run in the working directory trained (``./data/06_models``, made absolute
    once) unless ``BGBYE_EXTRA_MODEL_DIRS`` says otherwise. Libraries build ``Settings(...)``
    or use ``Settings.defaults()`` instead."""
    settings = Settings()
    if "extra_model_dirs" not in settings.model_fields_set:
        settings.extra_model_dirs = [(Path.cwd() / KEDRO_MODELS).resolve()]
    return settings
