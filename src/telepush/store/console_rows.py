"""Rows of the console's tables as domain objects, shared by both backends.

The backends differ only in how a time comes back (SQLite: REAL seconds since the epoch;
PostgreSQL: an aware datetime): each passes its ``when`` converter. No driver here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from telepush.domain.health import EndpointHealth, PauseReason, percentile
from telepush.domain.tasks import Task, TaskStatus
from telepush.errors import Conflict

When = Callable[[Any], datetime | None]


def task_from_row(row: Sequence[Any], when: When) -> Task:
    """A task from the columns ``task_id, kind, customer_id, service, status, nb_items,
    nb_done, nb_skipped, created_at, updated_at, finished_at, failed_from, failed_to,
    error``."""
    (task_id, kind, customer_id, service, status, nb_items, nb_done, nb_skipped) = row[:8]
    created_at, updated_at, finished_at, failed_from, failed_to, error = row[8:]
    created, updated = when(created_at), when(updated_at)
    assert created is not None and updated is not None
    return Task(
        task_id=task_id,
        kind=kind,
        customer_id=customer_id,
        service=service,
        status=TaskStatus(status),
        nb_items=nb_items,
        nb_done=nb_done,
        nb_skipped=nb_skipped,
        created_at=created,
        updated_at=updated,
        finished_at=when(finished_at),
        failed_from=when(failed_from),
        failed_to=when(failed_to),
        error=error,
    )


def running_conflict(task_id: str, customer_id: str, service: str) -> Conflict:
    """The error for a second task on an endpoint while ``task_id`` runs there."""
    return Conflict(
        f"a retry task for {customer_id}/{service} is already running: '{task_id}'; wait "
        f"for it to finish (GET /v1/tasks/{task_id}) before starting another"
    )


def health_from_row(
    row: Sequence[Any],
    sums: dict[tuple[str, str], tuple[int, ...]],
    buckets: dict[tuple[str, str], list[int]],
    when: When,
) -> EndpointHealth:
    """An endpoint's health from its ``endpoints`` row (customer_id, service, enabled, paused,
    paused_at, probe_at, consecutive_failures, last_success_at, last_failure_at, pending) and
    its window's sums and latency bucket counts."""
    (customer_id, service, enabled, paused, paused_at, probe_at, streak) = row[:7]
    last_success_at, last_failure_at, pending = row[7:]
    key = (customer_id, service)
    attempts, failures, delivered, failed, retried = sums.get(key, (0, 0, 0, 0, 0))
    counts = buckets.get(key, [])
    return EndpointHealth(
        customer_id=customer_id,
        service=service,
        enabled=bool(enabled),
        paused=None if paused is None else PauseReason(paused),
        paused_at=when(paused_at),
        probe_at=when(probe_at),
        consecutive_failures=streak,
        last_success_at=when(last_success_at),
        last_failure_at=when(last_failure_at),
        pending=pending,
        attempts=attempts,
        failures=failures,
        delivered=delivered,
        failed=failed,
        retried=retried,
        latency_p50_ms=percentile(counts, 0.5),
        latency_p95_ms=percentile(counts, 0.95),
        latency_p99_ms=percentile(counts, 0.99),
    )
