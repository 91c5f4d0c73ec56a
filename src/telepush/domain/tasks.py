"""Bulk replay tasks: re-queue the failed deliveries of one endpoint, with progress.

A task is created with the number of deliveries it will re-queue (``nb_items``) and runs in
chunks; ``nb_done`` counts those put back in the queue, ``nb_skipped`` those that had left
``failed`` meanwhile (replayed one by one, erased by retention or by a deletion). At most one
task runs per endpoint at a time. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

RETRY_FAILED = "retry-failed"


class TaskStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # stopped by an error (``error`` says which)


@dataclass(frozen=True)
class Task:
    task_id: str
    kind: str
    customer_id: str
    service: str
    status: TaskStatus
    nb_items: int
    nb_done: int
    nb_skipped: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    failed_from: datetime | None = None  # time-window form: failed at or after this ...
    failed_to: datetime | None = None  # ... and before this
    error: str | None = None

    @property
    def progress(self) -> float:
        """0..1: the share of ``nb_items`` dealt with (done or skipped)."""
        if self.nb_items == 0:
            return 1.0
        return min(1.0, (self.nb_done + self.nb_skipped) / self.nb_items)
