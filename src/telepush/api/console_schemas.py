"""Response shapes of the operator's console routes: tasks, endpoint health, figures."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from telepush.console.health import DepthSample
from telepush.domain.delivery import Status
from telepush.domain.health import EndpointHealth, MinuteStats
from telepush.domain.tasks import Task


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TaskStarted(_Out):
    task_id: str
    nb_items: int


class TaskOut(_Out):
    task_id: str
    kind: str
    customer_id: str
    service: str
    status: str
    nb_items: int
    nb_done: int
    nb_skipped: int
    progress: float
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    failed_from: datetime | None
    failed_to: datetime | None
    error: str | None

    @classmethod
    def of(cls, t: Task) -> TaskOut:
        return cls(
            task_id=t.task_id,
            kind=t.kind,
            customer_id=t.customer_id,
            service=t.service,
            status=str(t.status),
            nb_items=t.nb_items,
            nb_done=t.nb_done,
            nb_skipped=t.nb_skipped,
            progress=round(t.progress, 4),
            created_at=t.created_at,
            updated_at=t.updated_at,
            finished_at=t.finished_at,
            failed_from=t.failed_from,
            failed_to=t.failed_to,
            error=t.error,
        )


class TaskList(_Out):
    items: list[TaskOut]


class RetryWindow(_Out):
    """Optional body of a bulk retry: only deliveries that ended failed in [from, to)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    failed_from: datetime | None = Field(default=None, alias="from")
    failed_to: datetime | None = Field(default=None, alias="to")


class LatencyOut(_Out):
    p50: int | None
    p95: int | None
    p99: int | None


class EndpointOut(_Out):
    customer_id: str
    service: str
    enabled: bool
    paused: str | None
    paused_at: datetime | None
    probe_at: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pending: int
    attempts: int
    failures: int
    failure_rate: float | None
    delivered: int
    failed: int
    retried: int
    latency_ms: LatencyOut

    @classmethod
    def of(cls, e: EndpointHealth) -> EndpointOut:
        rate = e.failure_rate
        return cls(
            customer_id=e.customer_id,
            service=e.service,
            enabled=e.enabled,
            paused=None if e.paused is None else str(e.paused),
            paused_at=e.paused_at,
            probe_at=e.probe_at,
            consecutive_failures=e.consecutive_failures,
            last_success_at=e.last_success_at,
            last_failure_at=e.last_failure_at,
            pending=e.pending,
            attempts=e.attempts,
            failures=e.failures,
            failure_rate=None if rate is None else round(rate, 4),
            delivered=e.delivered,
            failed=e.failed,
            retried=e.retried,
            latency_ms=LatencyOut(p50=e.latency_p50_ms, p95=e.latency_p95_ms, p99=e.latency_p99_ms),
        )


class EndpointList(_Out):
    window_minutes: int
    items: list[EndpointOut]


class MinuteOut(_Out):
    minute: datetime
    attempts: int
    failures: int
    delivered: int
    failed: int
    retried: int

    @classmethod
    def of(cls, m: MinuteStats) -> MinuteOut:
        return cls(
            minute=m.minute,
            attempts=m.attempts,
            failures=m.failures,
            delivered=m.delivered,
            failed=m.failed,
            retried=m.retried,
        )


class DepthOut(_Out):
    at: datetime
    pending: int
    sending: int
    delivered: int
    failed: int
    superseded: int

    @classmethod
    def of(cls, s: DepthSample) -> DepthOut:
        return cls(at=s.at, **{str(status): s.counts.get(status, 0) for status in Status})


class HistoryOut(_Out):
    minutes: list[MinuteOut]
    depth: list[DepthOut]
