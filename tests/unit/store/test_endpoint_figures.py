"""A batch of outcomes summed into the rows ``record`` writes for endpoint health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from telepush.domain.delivery import Attempt, ErrorKind, Outcome, Status
from telepush.domain.health import latency_bucket
from telepush.store.endpoint_figures import MinuteRow, figures

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = int(T0.timestamp() // 60)


def _outcome(
    status: Status,
    at: datetime = T0,
    *,
    code: int | None = 200,
    error: ErrorKind | None = None,
    duration_ms: int = 10,
    customer: str = "acme",
    service: str = "trip",
) -> Outcome:
    attempt = Attempt(1, at, code, error, duration_ms)
    next_at = at if status is Status.PENDING else None
    return Outcome("d", attempt, status, next_at, customer_id=customer, service=service)


def _ok(at: datetime = T0, **kw: Any) -> Outcome:
    return _outcome(Status.DELIVERED, at, **kw)


def _fail(at: datetime = T0, status: Status = Status.PENDING, **kw: Any) -> Outcome:
    return _outcome(status, at, code=500, error=ErrorKind.HTTP_STATUS, **kw)


def test_counts_per_endpoint_and_minute_sorted_by_key() -> None:
    batch = figures(
        [
            _ok(service="trip"),
            _fail(service="crash"),
            _fail(T0 + timedelta(seconds=61), Status.FAILED, service="crash"),
            _ok(customer="beta"),
        ]
    )
    assert batch.minutes == [
        MinuteRow("acme", "crash", MINUTE, attempts=1, failures=1, retried=1),
        MinuteRow("acme", "crash", MINUTE + 1, attempts=1, failures=1, failed=1),
        MinuteRow("acme", "trip", MINUTE, attempts=1, delivered=1),
        MinuteRow("beta", "trip", MINUTE, attempts=1, delivered=1),
    ]
    assert [(e.customer_id, e.service) for e in batch.endpoints] == [
        ("acme", "crash"),
        ("acme", "trip"),
        ("beta", "trip"),
    ]


def test_latency_buckets_are_counted() -> None:
    batch = figures([_ok(duration_ms=3), _ok(duration_ms=4), _fail(duration_ms=700)])
    assert batch.latency == [
        ("acme", "trip", MINUTE, latency_bucket(3), 2),
        ("acme", "trip", MINUTE, latency_bucket(700), 1),
    ]


def test_unsendable_counts_as_failed_only() -> None:
    gone = _outcome(Status.FAILED, code=None, duration_ms=0)
    batch = figures([gone])
    assert batch.minutes == [MinuteRow("acme", "trip", MINUTE, failed=1)]
    assert (batch.latency, batch.endpoints) == ([], [])


def test_streak_counts_failures_after_the_last_success() -> None:
    t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (1, 2, 3))
    [change] = figures([_fail(T0), _ok(t1), _fail(t2), _fail(t3)]).endpoints
    assert (change.success, change.failures) == (True, 2)
    assert (change.last_success_at, change.last_failure_at) == (t1, t3)
    [only_failures] = figures([_fail(T0), _fail(t1)]).endpoints
    assert (only_failures.success, only_failures.failures) == (False, 2)


def test_an_attempt_without_error_nor_success_leaves_the_endpoint_alone() -> None:
    """A recorded status without an error kind (not a delivery) changes no streak."""
    odd = _outcome(Status.PENDING, code=500)
    batch = figures([odd])
    assert batch.endpoints == []
    assert batch.minutes == [MinuteRow("acme", "trip", MINUTE, attempts=1, retried=1)]
