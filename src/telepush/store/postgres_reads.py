"""Reading deliveries back from PostgreSQL, and replaying a failed one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telepush.domain.delivery import Attempt, Delivery, ErrorKind, Status
from telepush.errors import NotFound
from telepush.store.base import DeliveryFilter, Page
from telepush.store.listing import check_retryable, listing_query, page_of
from telepush.store.postgres_conn import Conn

# The columns ``_delivery`` reads, in its order (the same as SQLite's).
_COLUMNS = (
    "delivery_id, customer_id, service, key, status, created_at, due_at, attempt_count, "
    "idempotency_key, updated_at"
)

_ATTEMPTS = """
SELECT number, at, status_code, error, duration_ms, response, detail
FROM attempts WHERE delivery_seq = %s ORDER BY number, id
"""

_RETRY = """
UPDATE deliveries
SET status = 'pending', due_at = %s, lease_owner = NULL, updated_at = %s, manual = true
WHERE seq = %s
"""


async def get_delivery(conn: Conn, delivery_id: str) -> Delivery | None:
    cur = await conn.execute(
        f"SELECT seq, {_COLUMNS} FROM deliveries WHERE delivery_id = %s", (delivery_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    delivery = _delivery(row[1:])
    cur = await conn.execute(_ATTEMPTS, (row[0],))
    delivery.attempts.extend(_attempt(a) for a in await cur.fetchall())
    return delivery


async def list_deliveries(conn: Conn, filt: DeliveryFilter, limit: int, cursor: str | None) -> Page:
    sql, args = listing_query(_COLUMNS, filt, limit, cursor, "%s")
    cur = await conn.execute(sql, args)
    return page_of(await cur.fetchall(), limit, _delivery)


async def retry_delivery(conn: Conn, delivery_id: str, now: datetime) -> Delivery:
    """Call inside a transaction: the row is locked from the check to the change. The payload
    is looked for once the lock is held, by a later statement (a fresh snapshot), so a purge
    that erased it meanwhile (it locks the row too) is seen."""
    cur = await conn.execute(
        "SELECT seq, status FROM deliveries WHERE delivery_id = %s FOR UPDATE", (delivery_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no delivery '{delivery_id}'", field="deliveryId")
    seq, status = row
    cur = await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM payloads WHERE seq = %s)", (seq,))
    erased = await cur.fetchone()
    check_retryable(delivery_id, status, bool(erased and erased[0]))
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
    delivery_id, customer_id, service, key, status, created_at, due_at = row[:7]
    attempt_count, idempotency_key, updated_at = row[7:]
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
