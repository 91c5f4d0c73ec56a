"""Between SQLite rows and domain objects: epoch-second timestamps, delivery rows, cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from telepush.domain.delivery import Attempt, Delivery, ErrorKind, Status
from telepush.errors import InvalidInput


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


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence number inside ``cursor``; ``InvalidInput`` naming ``cursor`` when bad."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "seq" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidInput(
            "cursor is not valid: pass the nextCursor of a previous page unchanged",
            field="cursor",
        ) from None
