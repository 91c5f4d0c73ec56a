"""Outcome classification: what status codes and errors mean for a delivery."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from telepush.domain.delivery import (
    AttemptResult,
    Claimed,
    ErrorKind,
    Outcome,
    Status,
    classify_status,
)
from telepush.domain.outcome import decide, unsendable
from telepush.domain.policy import RetryPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy.from_shape({"delays": ["1m"], "thenEvery": None, "jitter": 0})


def claimed(attempt: int = 1) -> Claimed:
    return Claimed("d1", "c1", "trip", "k", b"{}", T0, attempt, 1)


@pytest.mark.parametrize(
    "code,accepted,expected",
    [
        (200, "200", None),
        (201, "200", ErrorKind.HTTP_STATUS),
        (204, "200", ErrorKind.HTTP_STATUS),
        (201, "2xx", None),
        (299, "2xx", None),
        (302, "200", ErrorKind.REDIRECT),
        (302, "2xx", ErrorKind.REDIRECT),
        (400, "200", ErrorKind.HTTP_STATUS),
        (500, "2xx", ErrorKind.HTTP_STATUS),
    ],
)
def test_classify_status(code: int, accepted: str, expected: ErrorKind | None) -> None:
    """Only 200 is acceptance by default; 2xx when opted in; 3xx is a redirect failure."""
    assert classify_status(code, accepted) == expected


def test_success_is_delivered() -> None:
    """An accepted attempt is final."""
    out = decide(claimed(), AttemptResult(ok=True, status_code=200), POLICY, finished_at=T0)
    assert out.status is Status.DELIVERED and out.attempt.status_code == 200


def test_failure_is_rescheduled_by_policy() -> None:
    """A failed attempt is retried after the policy's delay."""
    result = AttemptResult(ok=False, status_code=500, error=ErrorKind.HTTP_STATUS)
    out = decide(claimed(), result, POLICY, finished_at=T0)
    assert out.status is Status.PENDING
    assert out.next_attempt_at == T0 + timedelta(minutes=1)
    assert out.attempt.error is ErrorKind.HTTP_STATUS


def test_exhausted_policy_fails() -> None:
    """After the last delay with thenEvery null, the delivery is failed."""
    result = AttemptResult(ok=False, error=ErrorKind.TIMEOUT)
    out = decide(claimed(attempt=2), result, POLICY, finished_at=T0)
    assert out.status is Status.FAILED and out.next_attempt_at is None


def test_blocked_destination_fails_at_once() -> None:
    """A refused destination is not retried: no retry can fix it."""
    result = AttemptResult(ok=False, error=ErrorKind.BLOCKED)
    assert decide(claimed(), result, POLICY, finished_at=T0).status is Status.FAILED


@pytest.mark.parametrize(
    "status,next_at",
    [
        (Status.PENDING, None),
        (Status.DELIVERED, T0),
        (Status.FAILED, T0),
        (Status.SENDING, None),
        (Status.SUPERSEDED, None),
    ],
)
def test_inconsistent_outcomes_cannot_be_built(status: Status, next_at: datetime | None) -> None:
    """An outcome is delivered, failed, or pending with a next attempt time: nothing else."""
    attempt = decide(
        claimed(), AttemptResult(ok=True, status_code=200), POLICY, finished_at=T0
    ).attempt
    with pytest.raises(ValueError, match="outcome"):
        Outcome("d1", attempt, status, next_attempt_at=next_at, customer_id="c", service="trip")


def test_outcomes_name_their_endpoint() -> None:
    """Every outcome carries its delivery's customer and service, for endpoint health."""
    ok = decide(claimed(), AttemptResult(ok=True, status_code=200), POLICY, finished_at=T0)
    failed = AttemptResult(ok=False, status_code=500, error=ErrorKind.HTTP_STATUS)
    retry = decide(claimed(), failed, POLICY, finished_at=T0)
    gone = unsendable(claimed(), "gone", finished_at=T0)
    assert {(o.customer_id, o.service) for o in (ok, retry, gone)} == {("c1", "trip")}
    assert [o.status for o in (ok, retry, gone)] == [
        Status.DELIVERED,
        Status.PENDING,
        Status.FAILED,
    ]


def test_took_changes_only_the_duration() -> None:
    result = AttemptResult(
        ok=False,
        status_code=503,
        error=ErrorKind.HTTP_STATUS,
        detail="HTTP 503",
        response="busy",
        duration_ms=1,
        retry_after_s=2.5,
        token_renewed=True,
    )
    assert result.took(42) == dataclasses.replace(result, duration_ms=42)
