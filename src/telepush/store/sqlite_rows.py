"""Between SQLite rows and domain objects: epoch-second timestamps, delivery rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from telepush.domain.delivery import Attempt, Delivery, ErrorKind, Status


def to_epoch(at: datetime) -> float:
    """Seconds since the epoch of an aware datetime; a naive one is a programming error."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected an aware UTC datetime, got naive {at!r}")
    return at.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# The columns ``delivery_from_row`` reads, in its order.
DELIVERY_COLUMNS = (
    "delivery_id, customer_id, service, key, status, created_at, due_at, attempt_count, "
    "idempotency_key, updated_at"
)


def delivery_from_row(row: Sequence[Any]) -> Delivery:
    (delivery_id, customer_id, service, key, status, created_at, due_at) = row[:7]
    attempt_count, idempotency_key, updated_at = row[7:]
    state = Status(status)
    return Delivery(
        delivery_id=delivery_id,
        customer_id=customer_id,
        service=service,
        key=key,
        status=state,
        created_at=from_epoch(created_at),
        next_attempt_at=from_epoch(due_at) if state is Status.PENDING else None,
        attempt_count=attempt_count,
        idempotency_key=idempotency_key,
        updated_at=from_epoch(updated_at),
    )


ATTEMPT_COLUMNS = "number, at, status_code, error, duration_ms, response, detail"


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    number, at, status_code, error, duration_ms, response, detail = row
    return Attempt(
        number=number,
        at=from_epoch(at),
        status_code=status_code,
        error=None if error is None else ErrorKind(error),
        duration_ms=duration_ms,
        response=response,
        detail=detail,
    )
