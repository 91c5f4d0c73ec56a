"""From one attempt's result to the delivery's next state. Pure: the clock is an argument."""

from __future__ import annotations

import random
from datetime import datetime

from telepush.domain.delivery import (
    UNRECOVERABLE,
    Attempt,
    AttemptResult,
    Claimed,
    Outcome,
    Status,
)
from telepush.domain.policy import RetryPolicy


def decide(
    claimed: Claimed,
    result: AttemptResult,
    policy: RetryPolicy,
    *,
    finished_at: datetime,
    rng: random.Random | None = None,
) -> Outcome:
    """Delivered on acceptance; otherwise retry per ``policy``, or fail when it is exhausted,
    the error is one no retry can fix (a refused destination) or the attempt was a manual
    replay."""
    attempt = Attempt(
        number=claimed.attempt_number,
        at=finished_at,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        response=result.response,
        detail=result.detail,
    )
    if result.ok:
        return _outcome(claimed, attempt, Status.DELIVERED)
    if result.error in UNRECOVERABLE or claimed.manual:
        # A refused destination cannot be fixed by waiting; a manual replay is one attempt
        # an operator asked for, not a new round of the policy.
        return _outcome(claimed, attempt, Status.FAILED)
    next_at = policy.next_attempt_at(
        attempt_number=claimed.attempt_number,
        created_at=claimed.created_at,
        failed_at=finished_at,
        retry_after_s=result.retry_after_s,
        rng=rng,
    )
    if next_at is None:
        return _outcome(claimed, attempt, Status.FAILED)
    return _outcome(claimed, attempt, Status.PENDING, next_at)


def unsendable(claimed: Claimed, reason: str, *, finished_at: datetime) -> Outcome:
    """The delivery cannot be sent at all (its customer or service configuration is gone)."""
    attempt = Attempt(
        number=claimed.attempt_number,
        at=finished_at,
        status_code=None,
        error=None,
        duration_ms=0,
        detail=reason,
    )
    return _outcome(claimed, attempt, Status.FAILED)


def _outcome(
    claimed: Claimed, attempt: Attempt, status: Status, next_at: datetime | None = None
) -> Outcome:
    return Outcome(
        claimed.delivery_id,
        attempt,
        status,
        next_at,
        customer_id=claimed.customer_id,
        service=claimed.service,
    )
