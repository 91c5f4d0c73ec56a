"""Reading deliveries back, and replaying a failed one. Runs on the writer thread."""

from __future__ import annotations

import sqlite3

from telepush.domain.delivery import Delivery, Status
from telepush.errors import NotFound
from telepush.store.base import DeliveryFilter, Page
from telepush.store.listing import check_retryable, listing_query, page_of
from telepush.store.sqlite_rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    attempt_from_row,
    delivery_from_row,
)

_ATTEMPTS = f"""
SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_seq = ? ORDER BY number, id
"""

_RETRY = """
UPDATE deliveries
SET status = 'pending', due_at = ?, lease_owner = NULL, updated_at = ?, manual = 1
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
    sql, args = listing_query(DELIVERY_COLUMNS, filt, limit, cursor, "?")
    return page_of(conn.execute(sql, args).fetchall(), limit, delivery_from_row)


def retry_delivery(conn: sqlite3.Connection, delivery_id: str, now_s: float) -> Delivery:
    row = conn.execute(
        "SELECT seq, status, NOT EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)"
        " FROM deliveries AS d WHERE delivery_id = ?",
        (delivery_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no delivery '{delivery_id}'", field="deliveryId")
    seq, status, erased = row
    check_retryable(delivery_id, status, bool(erased))
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
