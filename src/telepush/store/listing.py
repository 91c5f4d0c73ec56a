"""What both backends share when reading deliveries back: the page cursor, the listing's
filter, and the rule for replaying a delivery. No driver here: SQL comes back as text with the
backend's own placeholder."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from telepush.domain.delivery import Delivery, Status
from telepush.errors import Conflict, InvalidInput
from telepush.store.base import DeliveryFilter, Page


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


def listing_query(
    columns: str, filt: DeliveryFilter, limit: int, cursor: str | None, placeholder: str
) -> tuple[str, list[object]]:
    """``SELECT seq, <columns>`` of one page, newest first, plus one row to tell whether a
    next page exists."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    where: list[str] = []
    args: list[object] = []
    for column, value in (
        ("customer_id", filt.customer_id),
        ("service", filt.service),
        ("status", None if filt.status is None else str(filt.status)),
        ("key", filt.key),
    ):
        if value is not None:
            where.append(f"{column} = {placeholder}")
            args.append(value)
    if cursor is not None:
        where.append(f"seq < {placeholder}")
        args.append(decode_cursor(cursor))
    sql = f"SELECT seq, {columns} FROM deliveries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY seq DESC LIMIT {placeholder}"
    return sql, [*args, limit + 1]


def page_of(
    rows: Sequence[Sequence[Any]], limit: int, delivery: Callable[[Sequence[Any]], Delivery]
) -> Page:
    """The page from ``listing_query``'s rows (``seq`` first, then the columns)."""
    items = [delivery(row[1:]) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def check_retryable(delivery_id: str, status: str, payload_erased: bool) -> None:
    """Only a failed delivery whose payload is still there can be replayed."""
    if status != Status.FAILED:
        raise Conflict(
            f"delivery '{delivery_id}' is {status}; only a failed delivery can be retried"
        )
    if payload_erased:
        raise Conflict(f"delivery '{delivery_id}' cannot be retried: its payload was erased")
