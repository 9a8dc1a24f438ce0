"""What a batch did, for the summary line, the exit code and the Pushgateway."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Failure:
    path: str
    code: str
    message: str


@dataclass
class Summary:
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    engine: str = ""

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def line(self) -> str:
        return (
            f"{self.done} done, {self.skipped} skipped, {self.failed} failed "
            f"in {self.seconds:.1f}s ({self.images_per_second:.2f} images/s)"
        )

    def as_metrics(self) -> dict[str, float]:
        return {
            "bgbye_batch_images_done": self.done,
            "bgbye_batch_images_skipped": self.skipped,
            "bgbye_batch_images_failed": self.failed,
            "bgbye_batch_duration_seconds": self.seconds,
            "bgbye_batch_images_per_second": self.images_per_second,
        }
