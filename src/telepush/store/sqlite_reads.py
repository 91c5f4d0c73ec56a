"""Reading deliveries back, and replaying a failed one. Runs on the writer thread."""

from __future__ import annotations

import sqlite3

from telepush.domain.delivery import Delivery, Status
from telepush.errors import Conflict, InvalidInput, NotFound
from telepush.store.base import DeliveryFilter, Page
from telepush.store.sqlite_rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    attempt_from_row,
    decode_cursor,
    delivery_from_row,
    encode_cursor,
)

_ATTEMPTS = f"""
SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_seq = ? ORDER BY number, id
"""

_RETRY = """
UPDATE deliveries SET status = 'pending', due_at = ?, lease_owner = NULL, updated_at = ?
WHERE seq = ?
"""


def get_delivery(conn: sqlite3.Connection, delivery_id: str) -> Delivery | None:
    row = conn.execute(
        f"SELECT seq, {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = ?", (delivery_id,)
    ).fetchone()
    if row is None:
        return None
    delivery = delivery_from_row(row[1:])
    attempts = [attempt_from_row(a) for a in conn.execute(_ATTEMPTS, (row[0],))]
    delivery.attempts.extend(attempts)
    return delivery


def list_deliveries(
    conn: sqlite3.Connection, filt: DeliveryFilter, limit: int, cursor: str | None
) -> Page:
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
            where.append(f"{column} = ?")
            args.append(value)
    if cursor is not None:
        where.append("seq < ?")
        args.append(decode_cursor(cursor))
    sql = f"SELECT seq, {DELIVERY_COLUMNS} FROM deliveries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    rows = conn.execute(sql, (*args, limit + 1)).fetchall()
    items = [delivery_from_row(row[1:]) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def retry_delivery(conn: sqlite3.Connection, delivery_id: str, now_s: float) -> Delivery:
    row = conn.execute(
        "SELECT seq, status, NOT EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)"
        " FROM deliveries AS d WHERE delivery_id = ?",
        (delivery_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no delivery '{delivery_id}'", field="deliveryId")
    seq, status, erased = row
    if status != Status.FAILED:
        raise Conflict(
            f"delivery '{delivery_id}' is {status}; only a failed delivery can be retried"
        )
    if erased:
        raise Conflict(f"delivery '{delivery_id}' cannot be retried: its payload was erased")
    conn.execute(_RETRY, (now_s, now_s, seq))
    retried = get_delivery(conn, delivery_id)
    assert retried is not None
    return retried


def count_by_status(conn: sqlite3.Connection) -> dict[Status, int]:
    """Every status, with zero for those that have no delivery."""
    counts = dict.fromkeys(Status, 0)
    for status, count in conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"):
        counts[Status(status)] = count
    return counts
