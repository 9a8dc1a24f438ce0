"""The job runner each replica runs: claim items from the shared store, work them on the
inference pool, heartbeat their leases, record each result only while the lease is held.

A replica that is killed simply stops heartbeating; its leases run out and another replica's
next claim takes the items over. A replica that is stopped (SIGTERM) stops claiming, finishes
what it holds within the grace period and hands the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from bgbye.errors import BgbyeError
from bgbye.monitoring import Metrics
from bgbye.server.errors import public_error
from bgbye.server.inference import InferencePool
from bgbye.server.jobs.model import Claim, Item, JobSpec, JobState, input_key, output_key
from bgbye.server.jobs.store import JobStore, StoreUnavailableError
from bgbye.server.storage import BlobStore

log = logging.getLogger(__name__)
T = TypeVar("T")

INPUT_LOST = "The input was lost when the server restarted."


class ItemWork(Protocol):
    """What the runner asks of the server: both are called on an inference thread."""

    def prepare(self, job: JobSpec) -> None:
        """Load what the job needs; raise BgbyeError when it cannot run at all."""

    def process(self, job: JobSpec, item: Item, data: bytes) -> bytes:
        """The encoded output for one input; raise BgbyeError for a per-item failure."""


class JobRunner:
    def __init__(self, store: JobStore, blobs: BlobStore, pool: InferencePool, work: ItemWork,
                 *, replica: str, metrics: Metrics | None = None, lease_seconds: float = 30.0,
                 poll_seconds: float = 1.0):
        self.store = store
        self.blobs = blobs
        self.pool = pool
        self.work = work
        self.replica = replica
        self.metrics = metrics if metrics is not None else Metrics()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.metrics.job_claims.labels(replica=self.replica)  # exported at 0 before any claim
        try:
            released = self.store.recover(self.replica)
            for job_id in self.store.ids_in(JobState.QUEUED, JobState.RUNNING):
                log.info("resuming job %s", job_id)
        except StoreUnavailableError:
            released = 0
        if released:
            log.info("%d job items left by a previous run go back to the queue", released)
        self._tasks = [asyncio.create_task(self._claim_loop(), name="bgbye-jobs"),
                       asyncio.create_task(self._heartbeat_loop(), name="bgbye-heartbeat")]

    def submit(self, job_id: str) -> None:
        """A job was created here: claim now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace_seconds: float = 20.0) -> None:
        """Stop claiming; let items in hand finish for ``grace_seconds``; release the rest."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.wait([self._tasks[0]], timeout=5)
        if self._inflight:
            _, late = await asyncio.wait(set(self._inflight), timeout=grace_seconds)
            for task in late:
                task.cancel()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            released = await asyncio.to_thread(self.store.release, self.replica)
        except StoreUnavailableError:
            released = 0  # the leases run out by themselves
        if released:
            log.info("handed %d job items back to the queue", released)

    # -- loops ------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        backoff = self.poll_seconds
        while not self._stopping:
            free = self.pool.threads - len(self._inflight)
            claims: list[Claim] = []
            if free > 0:
                try:
                    claims = await asyncio.to_thread(self.store.claim, self.replica, free,
                                                     self.lease_seconds)
                    backoff = self.poll_seconds
                except StoreUnavailableError:
                    backoff = min(10.0, backoff * 2)
                    log.warning("job database unavailable; claiming again in %.0f s", backoff)
            for claim in claims:
                self.metrics.job_claims.labels(replica=self.replica).inc()
                if claim.expired_from is not None:
                    self.metrics.job_lease_expiries.inc()
                    log.info("job %s item %d: lease of %s ran out; taking it over",
                             claim.job.id, claim.item.idx, claim.expired_from)
                task = asyncio.create_task(self._one(claim))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if claims and len(self._inflight) < self.pool.threads:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not self._inflight:
                continue
            try:
                await asyncio.to_thread(self.store.heartbeat, self.replica, self.lease_seconds)
            except StoreUnavailableError:
                log.warning("job database unavailable; lease heartbeat missed")

    # -- one item ---------------------------------------------------------------------------
    async def _one(self, claim: Claim) -> None:
        job, item = claim.job, claim.item
        where = f"job {job.id} item {item.idx}"
        try:
            await self.pool.run(lambda: self.work.prepare(job), wait=True)
        except Exception as exc:
            refusal = public_error(exc, where)
            log.warning("job %s cannot run: %s", job.id, refusal.message)
            await self._retry(lambda: self.store.fail_job(job.id, refusal.code, refusal.message))
            return
        error: BgbyeError | None = None
        try:
            await self.pool.run(lambda: self._work(job, item), wait=True)
        except Exception as exc:
            error = public_error(exc, where)
        recorded = await self._retry(
            lambda: self.store.finish(self.replica, job.id, item.idx, error))
        if recorded is False:
            log.warning("%s: lease lost before the result was recorded; another replica owns "
                        "it now", where)
        elif error is not None:  # recorded as failed: its input is no longer needed
            self.blobs.delete(input_key(job.id, item.idx))

    def _work(self, job: JobSpec, item: Item) -> None:
        """Input blob -> output blob, on a pool thread. An output that exists is whole (writes
        are atomic): a replica died after writing it, before recording it."""
        out = output_key(job.id, item.output)
        src = input_key(job.id, item.idx)
        if not self.blobs.exists(out):
            if not self.blobs.exists(src):
                raise BgbyeError(INPUT_LOST, code="input_lost")
            self.blobs.put(out, self.work.process(job, item, self.blobs.get(src)))
        self.blobs.delete(src)  # done: the output is the record now

    async def _retry(self, fn: Callable[[], T]) -> T | None:
        """Store writes that must not be dropped while the database blinks; gives up when the
        lease would have run out anyway (the item is then redone elsewhere)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease_seconds
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(fn)
            except StoreUnavailableError:
                if loop.time() + delay > deadline:
                    log.error("job database unavailable; a job result could not be recorded")
                    return None
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
