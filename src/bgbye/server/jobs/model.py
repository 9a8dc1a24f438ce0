"""What a job is: its states, its rows, the one place that names its files, and its API view."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from bgbye.errors import BgbyeError
from bgbye.server.errors import ErrorDetail


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


FINISHED = frozenset({JobState.DONE, JobState.FAILED})


class ItemState(StrEnum):
    """An item is ``pending`` until done or failed; a replica working on it holds a lease
    (``lease_owner``/``lease_until``) on the pending row, not a state of its own."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


# -- the one path rule: every job file lives under jobs/<id>/ in the blob store -------------------

def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}"


def input_key(job_id: str, idx: int) -> str:
    return f"{job_prefix(job_id)}/in/{idx:06d}"


def output_key(job_id: str, output: str) -> str:
    return f"{job_prefix(job_id)}/out/{output}"


def extra_key(job_id: str, name: str) -> str:
    return f"{job_prefix(job_id)}/{name}"


@dataclass
class NewItem:
    """One accepted input: its display name and bytes, or the error found while checking it."""

    name: str
    data: bytes | None
    error: BgbyeError | None = None


@dataclass
class Item:
    idx: int
    name: str
    output: str
    state: ItemState
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to process any item of a job."""

    id: str
    engine: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """An item leased to this replica; ``expired_from`` names the replica whose lease ran out."""

    job: JobSpec
    item: Item
    expired_from: str | None = None


# -- the API view (pydantic, so OpenAPI documents it) --------------------------------------------

class Counts(BaseModel):
    total: int
    pending: int
    done: int
    failed: int


class ItemError(BaseModel):
    index: int
    name: str
    error: ErrorDetail


class JobView(BaseModel):
    """A batch job as ``POST /v1/jobs`` and ``GET /v1/jobs/{id}`` return it."""

    id: str
    state: JobState
    engine: str = Field(description="The model or provider list that processes every image.")
    options: dict[str, Any]
    reason: str | None = Field(description="Why the job failed, when it did.")
    created: float
    updated: float
    finished: float | None
    counts: Counts
    errors: list[ItemError] = Field(description="The items that failed, with their error.")
    result: str | None = Field(description="The zip's URL once the job is done or failed.")
    status_url: str


@dataclass
class Job:
    id: str
    state: JobState
    engine: str
    options: dict[str, Any]
    reason: str | None
    created: float
    updated: float
    finished: float | None
    items: list[Item] = field(default_factory=list)

    def counts(self) -> Counts:
        by = {s: 0 for s in ItemState}
        for item in self.items:
            by[item.state] += 1
        return Counts(total=len(self.items), pending=by[ItemState.PENDING],
                      done=by[ItemState.DONE], failed=by[ItemState.FAILED])

    def errors(self) -> list[ItemError]:
        return [ItemError(index=i.idx, name=i.name,
                          error=ErrorDetail(code=i.error_code or "error",
                                            message=i.error_message or ""))
                for i in self.items if i.state == ItemState.FAILED]

    def view(self) -> JobView:
        return JobView(
            id=self.id, state=self.state, engine=self.engine, options=self.options,
            reason=self.reason, created=self.created, updated=self.updated,
            finished=self.finished, counts=self.counts(), errors=self.errors(),
            result=f"/v1/jobs/{self.id}/result" if self.state in FINISHED else None,
            status_url=f"/v1/jobs/{self.id}")
