"""What the routes share: settings, engines, the inference pool, file store and job store.

One ``Backend`` lives on ``app.state.backend`` for the life of the process (created in the
lifespan), so models load once and every request reuses the same ONNX Runtime sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bgbye import imageio, monitoring
from bgbye.atomic import atomic_write_bytes
from bgbye.engines import EngineCache
from bgbye.engines import providers as provider_refs
from bgbye.errors import BgbyeError, InvalidOptionError, UnknownModelError
from bgbye.layout import Layout
from bgbye.models.registry import HEURISTIC
from bgbye.postprocess import RemoveOptions
from bgbye.remover import Remover, RemoveResult
from bgbye.server.inference import InferencePool
from bgbye.server.jobs import Item, Job, JobRunner, JobStore
from bgbye.server.storage import FileStore
from bgbye.settings import Settings

log = logging.getLogger(__name__)

PROVIDER_LABELS = {"removebg": "remove.bg", "clipdrop": "Clipdrop", "photoroom": "Photoroom"}
_PROVIDER_KEYS = {"removebg": "remove_bg_api_key", "clipdrop": "clipdrop_api_key",
                  "photoroom": "photoroom_api_key"}
BG_IMAGE_FILE = "bg_image"


@dataclass(frozen=True)
class Options:
    """Request options as received; turned into ``RemoveOptions`` on a worker thread
    (decoding a background image is real work)."""

    format: str = "png"
    mask_only: bool = False
    bg_color: str | None = None
    crop: bool = False
    margin: int = 0
    refine: bool = False
    bg_image: bytes | None = None
    layout: Layout | None = None  # compat APIs' placement options (never stored in jobs)

    def check(self) -> Options:
        """Cheap validation on the event loop, so bad options fail before any decoding."""
        placeholder = np.zeros((1, 1, 3), np.uint8) if self.bg_image is not None else None
        self.remove_options(placeholder).validated()
        return self

    def remove_options(self, bg: np.ndarray | None) -> RemoveOptions:
        return RemoveOptions(format=self.format, mask_only=self.mask_only, bg_color=self.bg_color,
                             bg_image=bg, crop=self.crop, margin=self.margin, refine=self.refine,
                             layout=self.layout)

    def to_json(self) -> dict[str, Any]:
        return {"format": imageio.normalize_format(self.format), "mask_only": self.mask_only,
                "bg_color": self.bg_color, "crop": self.crop, "margin": self.margin,
                "refine": self.refine, "bg_image": self.bg_image is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any], bg_image: bytes | None) -> Options:
        return cls(format=data["format"], mask_only=data["mask_only"], bg_color=data["bg_color"],
                   crop=data["crop"], margin=data["margin"], refine=data["refine"],
                   bg_image=bg_image if data.get("bg_image") else None)


def ort_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def provider_configured(settings: Settings, name: str) -> bool:
    return bool(getattr(settings, _PROVIDER_KEYS[name], None))


class Backend:
    def __init__(self, settings: Settings):
        self.settings = settings
        # The pool runs `threads` images at once; each ORT run gets its share of the cores, as
        # the CLI's workers do, instead of every run spawning a thread per core.
        self.engines = EngineCache(settings, threads=ort_threads(settings.threads))
        self.files = FileStore(settings.storage_dir, settings.result_ttl_seconds)
        self.jobs = JobStore(settings.storage_dir)
        self.pool = InferencePool(settings.threads, settings.queue_size)
        self.runner = JobRunner(self.jobs, self.pool, self._process_item, self._prepare_job)
        self.default_error: str | None = None  # why the default model is not loaded, if it is not
        self._removers: dict[str, Remover] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self.pool.run(lambda: self.remover(self.settings.default_model), wait=True)
        except BgbyeError as exc:
            # Keep serving (the website explains it, /readyz says not ready) instead of dying.
            self.default_error = exc.message
            log.error("default model %r not loaded: %s", self.settings.default_model, exc.message)
        self.runner.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="bgbye-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.runner.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.pool.shutdown)
        self.jobs.close()

    @property
    def ready(self) -> bool:
        return self.default_error is None and self.settings.default_model in self._removers

    def sweep(self) -> int:
        removed = self.files.sweep()
        removed += self.jobs.expire(time.time() - self.settings.result_ttl_seconds)
        return removed

    async def _sweep_forever(self) -> None:
        interval = max(5.0, min(300.0, self.settings.result_ttl_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.sweep)
            except Exception:
                log.exception("storage sweep failed")

    # -- engines ----------------------------------------------------------------------------
    def engine_ref(self, model: str | None = None, provider: str | None = None) -> str:
        """Validate a user's model/provider choice. Only registry names, ``heuristic`` and
        provider names are accepted: never a file path, which would let a client load any
        file on the server."""
        if model and provider:
            raise InvalidOptionError("Choose either a model or a provider, not both.")
        if provider:
            parts = [provider_refs.canonical(p) for p in provider.split(",") if p.strip()]
            allowed = {*PROVIDER_LABELS, "local"}
            bad = [p for p in parts if p not in allowed]
            if not parts or bad:
                raise InvalidOptionError(
                    f"Unknown provider {provider!r}: choose remove.bg, clipdrop or photoroom.")
            return ",".join(parts)
        ref = model or self.settings.default_model
        if ref in self._removers or ref == HEURISTIC:
            return ref
        if ref not in self.engines.registry.names():
            known = ", ".join([*self.engines.registry.names(), HEURISTIC])
            raise UnknownModelError(f"Unknown model {ref!r}. Known models: {known}.")
        return ref

    def remover(self, ref: str) -> Remover:
        """The Remover for a validated ref; loads the engine once (call on a worker thread)."""
        remover = self._removers.get(ref)
        if remover is None:
            start = time.perf_counter()
            engine = self.engines.get(ref)
            monitoring.MODEL_LOAD_SECONDS.labels(model=ref).set(time.perf_counter() - start)
            remover = self._removers.setdefault(ref, Remover(engine, self.settings))
        return remover

    def models(self) -> dict[str, Any]:
        default = self.settings.default_model
        models = [
            {
                "name": name,
                "description": entry.spec.description,
                "task": entry.spec.task,
                "license": entry.spec.license,
                "available": entry.available,
                "loaded": name in self._removers,
                "default": name == default,
            }
            for name, entry in sorted(self.engines.registry.entries().items())
        ]
        providers = [
            {"name": name, "label": label, "configured": provider_configured(self.settings, name)}
            for name, label in PROVIDER_LABELS.items()
        ]
        return {"default": default, "models": models, "providers": providers,
                "engines": [HEURISTIC]}

    # -- work -------------------------------------------------------------------------------
    def check_image(self, data: bytes) -> imageio.ImageInfo:
        """Header-only limits check: 400 empty, 413 too large, 415 not an image."""
        return imageio.probe(data, max_bytes=self.settings.max_upload_bytes,
                             max_pixels=self.settings.max_pixels)

    def _remove_sync(self, ref: str, data: bytes, options: Options) -> RemoveResult:
        remover = self.remover(ref)
        bg = None
        if options.bg_image is not None:
            bg = imageio.decode(options.bg_image, max_bytes=self.settings.max_upload_bytes,
                                max_pixels=self.settings.max_pixels)
        name = remover.engine.name
        try:
            result = remover.remove_bytes(data, options.remove_options(bg))
        except BgbyeError:
            monitoring.IMAGES.labels(engine=name, outcome="error").inc()
            raise
        monitoring.INFERENCE_SECONDS.labels(engine=name).observe(result.seconds)
        monitoring.IMAGES.labels(engine=name, outcome="ok").inc()
        monitoring.BYTES_IN.inc(len(data))
        monitoring.BYTES_OUT.inc(len(result.data))
        return result

    async def remove(self, ref: str, data: bytes, options: Options) -> RemoveResult:
        return await self.pool.run(lambda: self._remove_sync(ref, data, options))

    # -- jobs -------------------------------------------------------------------------------
    def _prepare_job(self, job: Job) -> None:
        self.remover(job.engine)  # load the engine now: a failure fails the job with a reason

    def _process_item(self, job: Job, item: Item) -> None:
        folder = self.jobs.job_dir(job.id)
        src = folder / "in" / f"{item.idx:06d}"
        bg_path = folder / BG_IMAGE_FILE
        bg = bg_path.read_bytes() if bg_path.is_file() else None
        options = Options.from_json(job.options, bg)
        result = self._remove_sync(job.engine, src.read_bytes(), options)
        atomic_write_bytes(folder / "out" / item.output, result.data)
        src.unlink(missing_ok=True)  # done: the output is the record now

    def job_extra_files(self, options: Options) -> dict[str, bytes]:
        return {BG_IMAGE_FILE: options.bg_image} if options.bg_image is not None else {}

    def storage_path(self) -> Path:
        return self.settings.storage_dir


def with_format(options: Options, fmt: str) -> Options:
    return replace(options, format=fmt)
