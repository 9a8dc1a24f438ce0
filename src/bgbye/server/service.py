"""What the routes share: settings, engines, the inference pool, file store and job store.

One ``Backend`` lives on ``app.state.backend`` for the life of the process (created in the
lifespan), so models load once and every request reuses the same ONNX Runtime sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from bgbye import imageio
from bgbye.engines import EngineCache, providers, threads_per_worker
from bgbye.errors import BgbyeError, InvalidOptionError, UnknownModelError
from bgbye.models.registry import HEURISTIC, parse_ref, unknown_model_message
from bgbye.monitoring import Metrics
from bgbye.options import RemoveOptions
from bgbye.remover import Remover, RemoveResult
from bgbye.server.inference import InferencePool
from bgbye.server.jobs import Item, JobRunner, JobSpec, extra_key, open_queue
from bgbye.server.storage import FileStore
from bgbye.settings import Settings

log = logging.getLogger(__name__)

BG_IMAGE_FILE = "bg_image"


class Backend:
    def __init__(self, settings: Settings, metrics: Metrics | None = None):
        self.settings = settings
        self.metrics = metrics if metrics is not None else Metrics()
        # The pool runs `threads` images at once; each ORT run gets its share of the cores, as
        # the CLI's workers do, instead of every run spawning a thread per core.
        self.engines = EngineCache(settings, threads=threads_per_worker(settings.threads),
                                   metrics=self.metrics)
        self.files = FileStore(settings.storage_dir, settings.result_ttl_seconds)
        self.jobs = open_queue(settings, self.metrics)
        self.pool = InferencePool(settings.threads, settings.queue_size, self.metrics)
        self.runner = JobRunner(self.jobs.store, self.jobs.blobs, self.pool, _JobWork(self),
                                replica=settings.replica, metrics=self.metrics,
                                lease_seconds=settings.job_lease_seconds,
                                poll_seconds=settings.job_poll_seconds)
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
        await self.runner.stop(self.settings.shutdown_grace_seconds)
        await asyncio.get_running_loop().run_in_executor(None, self.pool.shutdown)
        self.jobs.close()

    @property
    def ready(self) -> bool:
        return self.default_error is None and self.settings.default_model in self._removers

    def not_ready_reason(self) -> str | None:
        """Why this replica must not get traffic: the model, or the job database (checked on
        the calling thread)."""
        if not self.ready:
            return self.default_error or "the default model is loading"
        try:
            self.jobs.store.ping()
        except BgbyeError as exc:
            return exc.message
        return None

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
        """Validate a user's model/provider choice (the shared rule: ``providers.engine_ref``).

        Over HTTP only registry names, ``heuristic`` and provider names (with ``local`` in
        fallback lists) are accepted: never a file path, which would let a client load any
        file on the server."""
        ref = providers.engine_ref(model, provider)
        if ref is not None and (provider or "").strip():
            allowed = {*providers.names(), providers.LOCAL}
            if any(part not in allowed for part in ref.split(",")):
                raise InvalidOptionError(
                    f"Unknown provider {provider!r}: choose "
                    f"{', '.join(providers.labels().values())} (or a list such as "
                    "removebg,local).")
            return ref
        ref = ref or self.settings.default_model
        if ref in self._removers or ref == HEURISTIC:
            return ref
        names = self.engines.registry.names()
        if parse_ref(ref)[0] not in names:  # NAME or NAME:CLASS (u2net_cloth_seg:upper)
            raise UnknownModelError(unknown_model_message(ref, [*names, HEURISTIC]))
        return ref

    def remover(self, ref: str) -> Remover:
        """The Remover for a validated ref; loads the engine once (call on a worker thread)."""
        remover = self._removers.get(ref)
        if remover is None:
            start = time.perf_counter()
            engine = self.engines.get(ref)
            self.metrics.model_load_seconds.labels(model=ref).set(time.perf_counter() - start)
            remover = self._removers.setdefault(ref, Remover(engine, self.settings))
        return remover

    def models(self) -> dict[str, Any]:
        default = self.settings.default_model
        registry = self.engines.registry
        # The same facts as `bgbye models list --json` (licence, size, task, downloaded).
        models = [
            {**registry.describe(name, entry), "loaded": name in self._removers,
             "default": name == default}
            for name, entry in sorted(registry.entries().items())
        ]
        provider_rows = [
            {"name": name, "label": label, "configured": providers.configured(name, self.settings)}
            for name, label in providers.labels().items()
        ]
        return {"default": default, "models": models, "providers": provider_rows,
                "engines": [HEURISTIC]}

    # -- work -------------------------------------------------------------------------------
    def check_image(self, data: bytes) -> imageio.ImageInfo:
        """Header-only limits check: 400 empty, 413 too large, 415 not an image."""
        return imageio.probe(data, max_bytes=self.settings.max_upload_bytes,
                             max_pixels=self.settings.max_pixels)

    def _remove_sync(self, ref: str, data: bytes, options: RemoveOptions) -> RemoveResult:
        remover = self.remover(ref)
        name = remover.engine.name
        try:
            result = remover.remove_bytes(data, options)
        except BgbyeError:
            self.metrics.images.labels(engine=name, outcome="error").inc()
            raise
        self.metrics.inference_seconds.labels(engine=name).observe(result.seconds)
        self.metrics.images.labels(engine=name, outcome="ok").inc()
        self.metrics.bytes_in.inc(len(data))
        self.metrics.bytes_out.inc(len(result.data))
        return result

    async def remove(self, ref: str, data: bytes, options: RemoveOptions) -> RemoveResult:
        return await self.pool.run(lambda: self._remove_sync(ref, data, options))

    # -- jobs -------------------------------------------------------------------------------
    def job_extra_files(self, options: RemoveOptions) -> dict[str, bytes]:
        return {BG_IMAGE_FILE: options.bg_image} if options.bg_image is not None else {}


class _JobWork:
    """The server's side of the job runner's ``ItemWork``."""

    def __init__(self, backend: Backend):
        self.backend = backend

    def prepare(self, job: JobSpec) -> None:
        self.backend.remover(job.engine)  # load the engine now: a failure fails the job

    def process(self, job: JobSpec, item: Item, data: bytes) -> bytes:
        bg = None
        if job.options.get("bg_image"):
            bg = self.backend.jobs.blobs.get(extra_key(job.id, BG_IMAGE_FILE))
        options = RemoveOptions.from_record(job.options, bg)
        return self.backend._remove_sync(job.engine, data, options).data
