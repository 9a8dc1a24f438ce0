"""A bounded inference pool: model work runs on worker threads, never on the event loop.

``threads`` workers run at once and at most ``queue_size`` more wait; beyond that an interactive
request is refused at once with 503 + ``Retry-After`` instead of piling up latency and memory.
Batch-job items wait for a slot instead (``wait=True``): a job is already accepted and queued.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bgbye.monitoring import Metrics
from bgbye.server.errors import QueueFullError

T = TypeVar("T")


class InferencePool:
    def __init__(self, threads: int, queue_size: int, metrics: Metrics | None = None):
        self.metrics = metrics if metrics is not None else Metrics()
        self.threads = max(1, threads)
        self.capacity = self.threads + max(0, queue_size)
        self._executor = ThreadPoolExecutor(max_workers=self.threads,
                                            thread_name_prefix="bgbye-infer")
        self._in_flight = 0
        self._slots = asyncio.Semaphore(self.capacity)
        # Rough seconds per image, to give clients a sensible Retry-After.
        self._avg_seconds = 0.5

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _retry_after(self) -> int:
        return max(1, math.ceil(self._avg_seconds * self.capacity / self.threads))

    async def run(self, fn: Callable[[], T], *, wait: bool = False) -> T:
        """Run ``fn`` on a worker thread; refuse with QueueFullError when full unless ``wait``.

        The slot is released when the work ends, not when the caller stops waiting, so a
        client that disconnects cannot make the executor's own queue grow past the bound.
        """
        if not wait and self._slots.locked():
            self.metrics.queue_rejections.inc()
            raise QueueFullError(
                f"The server is busy ({self._in_flight} images in progress); retry shortly.",
                retry_after=self._retry_after(),
            )
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._in_flight += 1
        self.metrics.queue_depth.set(self._in_flight)

        def release(_: object) -> None:
            self._in_flight -= 1
            self.metrics.queue_depth.set(self._in_flight)
            self._avg_seconds = 0.8 * self._avg_seconds + 0.2 * (loop.time() - start)
            self._slots.release()

        try:
            future = loop.run_in_executor(self._executor, fn)
        except BaseException:
            release(None)
            raise
        future.add_done_callback(release)  # runs on the loop thread
        return await asyncio.shield(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
