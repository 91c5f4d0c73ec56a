"""Reading deliveries back from PostgreSQL, and replaying a failed one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telepush.domain.delivery import Attempt, Delivery, ErrorKind, Status
from telepush.errors import Conflict, InvalidInput, NotFound
from telepush.store.base import DeliveryFilter, Page
from telepush.store.postgres_conn import Conn
from telepush.store.sqlite_rows import decode_cursor, encode_cursor

# Cursors are the same on both stores: an opaque wrapping of the delivery's sequence number.

_DELIVERY_COLUMNS = (
    "seq, delivery_id, customer_id, service, key, status, created_at, due_at, attempt_count, "
    "idempotency_key, updated_at"
)

_ATTEMPTS = """
SELECT number, at, status_code, error, duration_ms, response, detail
FROM attempts WHERE delivery_seq = %s ORDER BY number, id
"""

_RETRY = """
UPDATE deliveries SET status = 'pending', due_at = %s, lease_owner = NULL, updated_at = %s
WHERE seq = %s
"""


async def get_delivery(conn: Conn, delivery_id: str) -> Delivery | None:
    cur = await conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = %s", (delivery_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    delivery = _delivery(row)
    cur = await conn.execute(_ATTEMPTS, (row[0],))
    delivery.attempts.extend(_attempt(a) for a in await cur.fetchall())
    return delivery


async def list_deliveries(conn: Conn, filt: DeliveryFilter, limit: int, cursor: str | None) -> Page:
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    where: list[str] = []
    args: list[object] = []
    for column, value in (
        ("customer_id", filt.customer_id),
        ("service", filt.service),
        ("status", None if filt.status is None else str(filt.status)),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if cursor is not None:
        where.append("seq < %s")
        args.append(decode_cursor(cursor))
    sql = f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT %s"
    cur = await conn.execute(sql, (*args, limit + 1))
    rows = await cur.fetchall()
    items = [_delivery(row) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


async def retry_delivery(conn: Conn, delivery_id: str, now: datetime) -> Delivery:
    """Call inside a transaction: the row is locked from the check to the change."""
    cur = await conn.execute(
        "SELECT seq, status, NOT EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)"
        " FROM deliveries AS d WHERE delivery_id = %s FOR UPDATE OF d",
        (delivery_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no delivery '{delivery_id}'", field="deliveryId")
    seq, status, erased = row
    if status != Status.FAILED:
        raise Conflict(
            f"delivery '{delivery_id}' is {status}; only a failed delivery can be retried"
        )
    if erased:
        raise Conflict(f"delivery '{delivery_id}' cannot be retried: its payload was erased")
    await conn.execute(_RETRY, (now, now, seq))
    retried = await get_delivery(conn, delivery_id)
    assert retried is not None
    return retried


async def count_by_status(conn: Conn) -> dict[Status, int]:
    """Every status, with zero for those that have no delivery."""
    counts = dict.fromkeys(Status, 0)
    cur = await conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")
    for status, count in await cur.fetchall():
        counts[Status(status)] = count
    return counts


def _delivery(row: Sequence[Any]) -> Delivery:
    _, delivery_id, customer_id, service, key, status, created_at, due_at = row[:8]
    attempt_count, idempotency_key, updated_at = row[8:]
    state = Status(status)
    return Delivery(
        delivery_id=delivery_id,
        customer_id=customer_id,
        service=service,
        key=key,
        status=state,
        created_at=created_at,
        next_attempt_at=due_at if state is Status.PENDING else None,
        attempt_count=attempt_count,
        idempotency_key=idempotency_key,
        updated_at=updated_at,
    )


def _attempt(row: Sequence[Any]) -> Attempt:
    number, at, status_code, error, duration_ms, response, detail = row
    return Attempt(
        number=number,
        at=at,
        status_code=status_code,
        error=None if error is None else ErrorKind(error),
        duration_ms=duration_ms,
        response=response,
        detail=detail,
    )
