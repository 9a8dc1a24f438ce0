"""Batch jobs that survive restarts and scale-out.

Rows live in a job store (``store.py``: SQLite by default, PostgreSQL with
``BGBYE_DATABASE_URL``), files in a blob store (``bgbye.server.storage.BlobStore``: a folder or an
object store). Any replica claims any pending item under a lease (``runner.py``), so a job is
visible from every replica and a killed replica's items are finished by another.
"""

from bgbye.server.jobs.model import (
    FINISHED,
    Claim,
    Item,
    ItemState,
    Job,
    JobSpec,
    JobState,
    JobView,
    NewItem,
    extra_key,
    input_key,
    job_prefix,
    output_key,
)
from bgbye.server.jobs.queue import JobQueue, open_queue, open_store
from bgbye.server.jobs.runner import ItemWork, JobRunner
from bgbye.server.jobs.store import JobStore, StoreStats, StoreUnavailableError

__all__ = [
    "FINISHED", "Claim", "Item", "ItemState", "ItemWork", "Job", "JobQueue", "JobRunner",
    "JobSpec", "JobState", "JobStore", "JobView", "NewItem", "StoreStats",
    "StoreUnavailableError", "extra_key", "input_key", "job_prefix", "open_queue", "open_store",
    "output_key",
]
