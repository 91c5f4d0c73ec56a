"""What one batch of outcomes does to its endpoints' health, summed in Python before writing.

``record`` turns a batch into a handful of rows whatever its size: one per (endpoint,
minute) for ``endpoint_minutes``, one per (endpoint, minute, latency bucket) for
``endpoint_latency`` and one per endpoint for ``endpoints``; each backend then writes them
with one ``executemany`` per table, as increments (``x = x + excluded.x``), so concurrent
batches of the same endpoint add up. Rows come sorted by key: transactions of several
processes then lock them in the same order. No I/O here.

What counts:

- an *attempt* is an outcome whose request was made; it *failed* when it has an error. Its
  duration is counted in its latency bucket. Deliveries that end ``delivered`` or ``failed``
  and retries scheduled (``pending``) are counted too.
- an *unsendable* outcome (no error, no status code, ``failed``: its customer or service
  configuration is gone) made no request: it counts only as ``failed``, not as an attempt,
  and does not touch the failure streak.
- the streak: a delivered outcome ends it (and closes the breaker); each failed attempt
  after the batch's last success adds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from telepush.domain.delivery import Outcome, Status
from telepush.domain.health import latency_bucket


@dataclass
class MinuteRow:
    customer_id: str
    service: str
    minute: int  # epoch seconds // 60
    attempts: int = 0
    failures: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0

    def as_row(self) -> tuple[str, str, int, int, int, int, int, int]:
        return (
            self.customer_id,
            self.service,
            self.minute,
            self.attempts,
            self.failures,
            self.delivered,
            self.failed,
            self.retried,
        )


@dataclass
class EndpointChange:
    """How one batch moves an endpoint's streak and last success / failure."""

    customer_id: str
    service: str
    success: bool = False  # a delivery succeeded: the streak restarts from 0
    failures: int = 0  # failed attempts after the batch's last success (all, if none)
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


@dataclass(frozen=True)
class Figures:
    minutes: list[MinuteRow]
    latency: list[tuple[str, str, int, int, int]]  # customer, service, minute, bucket, count
    endpoints: list[EndpointChange]


def unsendable(outcome: Outcome) -> bool:
    """No request was made: the delivery's configuration was gone."""
    attempt = outcome.attempt
    return outcome.status is Status.FAILED and attempt.error is None and attempt.status_code is None


def minute_of(at: datetime) -> int:
    return int(at.timestamp() // 60)


def figures(outcomes: Sequence[Outcome]) -> Figures:
    """The batch's rows for ``endpoint_minutes``, ``endpoint_latency`` and ``endpoints``,
    each sorted by key. Outcomes count in the order given (the order they finished)."""
    minutes: dict[tuple[str, str, int], MinuteRow] = {}
    latency: dict[tuple[str, str, int, int], int] = {}
    endpoints: dict[tuple[str, str], EndpointChange] = {}
    for outcome in outcomes:
        endpoint = (outcome.customer_id, outcome.service)
        minute = minute_of(outcome.attempt.at)
        row = minutes.get((*endpoint, minute))
        if row is None:
            row = minutes[(*endpoint, minute)] = MinuteRow(*endpoint, minute)
        if outcome.status is Status.DELIVERED:
            row.delivered += 1
        elif outcome.status is Status.FAILED:
            row.failed += 1
        else:
            row.retried += 1
        if unsendable(outcome):
            continue
        row.attempts += 1
        bucket = (*endpoint, minute, latency_bucket(outcome.attempt.duration_ms))
        latency[bucket] = latency.get(bucket, 0) + 1
        change = endpoints.get(endpoint)
        if change is None:
            change = endpoints[endpoint] = EndpointChange(*endpoint)
        at = outcome.attempt.at
        if outcome.status is Status.DELIVERED:
            change.success = True
            change.failures = 0
            change.last_success_at = _latest(change.last_success_at, at)
        elif outcome.attempt.error is not None:
            row.failures += 1
            change.failures += 1
            change.last_failure_at = _latest(change.last_failure_at, at)
    return Figures(
        minutes=[minutes[key] for key in sorted(minutes)],
        latency=[(*key, latency[key]) for key in sorted(latency)],
        endpoints=[
            endpoints[key]
            for key in sorted(endpoints)
            if endpoints[key].success or endpoints[key].last_failure_at is not None
        ],
    )


def _latest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at > current else current


def breaker_sql(param: str) -> dict[str, str]:
    """SET expressions of the endpoint update, for a driver whose named parameters read
    ``param.format(name)`` (``":{}"`` or ``"%({})s"``). Every expression reads the row as
    it was, so one UPDATE moves streak and breaker together, atomically:

    - the streak restarts from 0 on a success, then grows by the failed attempts after it;
    - a success closes the breaker (``paused = 'breaker'`` -> running, ``probe_at`` NULL);
    - with ``pause_after`` > 0, a failed attempt bringing the streak to ``pause_after`` or
      more opens the breaker of a running endpoint: ``paused = 'breaker'``, ``paused_at``
      the time of the batch's last failed attempt, ``probe_at`` NULL (the next ``claim``
      schedules the first probe ``probe_interval_s`` later).
      A manual pause stays as it is.
    """
    p = param.format
    streak = f"(CASE WHEN {p('success')} THEN 0 ELSE consecutive_failures END + {p('failures')})"
    close = f"({p('success')} AND paused = 'breaker')"
    trip = (
        f"({p('pause_after')} > 0 AND {p('failures')} > 0 AND {streak} >= {p('pause_after')}"
        f" AND (paused IS NULL OR {close}))"
    )
    return {
        "consecutive_failures": streak,
        "paused": f"CASE WHEN {trip} THEN 'breaker' WHEN {close} THEN NULL ELSE paused END",
        "paused_at": (
            f"CASE WHEN {trip} THEN {p('failure_at')} WHEN {close} THEN NULL ELSE paused_at END"
        ),
        "probe_at": f"CASE WHEN {trip} OR {close} THEN NULL ELSE probe_at END",
    }
