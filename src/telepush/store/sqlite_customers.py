"""Customer rows of the SQLite store. Run on the writer thread; secrets arrive encrypted.

A customer is stored as its public configuration (camelCase JSON, as ``CustomerConfig.public``
gives it) plus one encrypted token holding its secret fields; ``endpoints`` mirrors which of
its services exist and are enabled, for ``claim``, and keeps each one's health (pause
state, failure streak): replacing a customer keeps those of the services that remain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    config_json: str
    secret: bytes
    revision: int
    created_at: float
    updated_at: float


_COLUMNS = "customer_id, config_json, secret, revision, created_at, updated_at"

# A service that remains keeps its pause state and streak.
_UPSERT_ENDPOINT = """
INSERT INTO endpoints (customer_id, service, enabled) VALUES (?, ?, ?)
ON CONFLICT (customer_id, service) DO UPDATE SET enabled = excluded.enabled
"""


def put_customer(
    conn: sqlite3.Connection,
    customer_id: str,
    config_json: str,
    secret: bytes,
    endpoints: Sequence[tuple[str, bool]],
    now_s: float,
) -> tuple[CustomerRow, bool]:
    """Create or replace; the revision counts replacements. Returns (row, created)."""
    before = conn.execute(
        "SELECT revision, created_at FROM customers WHERE customer_id = ?", (customer_id,)
    ).fetchone()
    if before is None:
        revision, created_at = 1, now_s
        conn.execute(
            f"INSERT INTO customers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (customer_id, config_json, secret, revision, created_at, now_s),
        )
    else:
        revision, created_at = before[0] + 1, before[1]
        conn.execute(
            "UPDATE customers SET config_json = ?, secret = ?, revision = ?, updated_at = ?"
            " WHERE customer_id = ?",
            (config_json, secret, revision, now_s, customer_id),
        )
    services = [service for service, _ in endpoints]
    conn.execute(
        "DELETE FROM endpoints WHERE customer_id = ?"
        f" AND service NOT IN ({', '.join('?' * len(services))})",
        (customer_id, *services),
    )
    conn.executemany(_UPSERT_ENDPOINT, [(customer_id, s, enabled) for s, enabled in endpoints])
    row = CustomerRow(customer_id, config_json, secret, revision, created_at, now_s)
    return row, before is None


def get_customer(conn: sqlite3.Connection, customer_id: str) -> CustomerRow | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM customers WHERE customer_id = ?", (customer_id,)
    ).fetchone()
    return None if row is None else CustomerRow(*row)


def list_customers(conn: sqlite3.Connection) -> list[CustomerRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM customers ORDER BY customer_id").fetchall()
    return [CustomerRow(*row) for row in rows]


def delete_customer(conn: sqlite3.Connection, customer_id: str, now_s: float) -> bool:
    """Erase every payload of the customer, fail its unfinished deliveries, drop its row."""
    # Its endpoints go with it (ON DELETE CASCADE).
    gone = conn.execute("DELETE FROM customers WHERE customer_id = ?", (customer_id,))
    if gone.rowcount == 0:
        return False
    conn.execute(
        "UPDATE deliveries SET status = 'failed', due_at = NULL, lease_owner = NULL,"
        " updated_at = ? WHERE customer_id = ? AND status IN ('pending', 'sending')",
        (now_s, customer_id),
    )
    conn.execute(
        "DELETE FROM payloads WHERE seq IN (SELECT seq FROM deliveries WHERE customer_id = ?)",
        (customer_id,),
    )
    return True
