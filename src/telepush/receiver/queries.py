"""Read queries of the receiver's read API: each is a function of a connection (SQLite or
PostgreSQL, the same SQL on both; see ``dialect``).

Stored documents are returned as the raw bytes received; listings parse the small ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from telepush.receiver.dialect import Connection

R = TypeVar("R")
Query = Callable[[Connection], R]

_COUNTED = {
    "trip": "trips",
    "deleted-trip": "deletions",
    "crash": "crashes",
    "crash-report": "crash_reports",
    "diagnosis": "diagnoses",
}


def trip_body(itin_id: str) -> Query[bytes | None]:
    return _body("SELECT body FROM trips WHERE itin_id = ?", itin_id)


def crash_body(crash_id: str) -> Query[bytes | None]:
    return _body("SELECT body FROM crashes WHERE crash_id = ?", crash_id)


def is_deleted(itin_id: str) -> Query[bool]:
    def run(conn: Connection) -> bool:
        found = conn.execute("SELECT 1 FROM deletions WHERE itin_id = ?", (itin_id,)).fetchone()
        return found is not None

    return run


def _body(sql: str, key: str) -> Query[bytes | None]:
    def run(conn: Connection) -> bytes | None:
        row = conn.execute(sql, (key,)).fetchone()
        return None if row is None else bytes(row[0])

    return run


def trip_ids(limit: int, after: str | None) -> Query[list[str]]:
    def run(conn: Connection) -> list[str]:
        rows = conn.execute(
            "SELECT itin_id FROM trips WHERE itin_id > ? ORDER BY itin_id LIMIT ?",
            (after or "", limit),
        )
        return [row[0] for row in rows]

    return run


def deletions(limit: int) -> Query[list[dict[str, Any]]]:
    def run(conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT itin_id, date, received_at, delivery_id, trip_was_stored FROM deletions"
            " ORDER BY received_at, itin_id LIMIT ?",
            (limit,),
        )
        return [
            {
                "itinId": itin_id,
                "date": date,
                "receivedAt": received_at,
                "deliveryId": delivery_id,
                "tripWasStored": bool(was_stored),
            }
            for itin_id, date, received_at, delivery_id, was_stored in rows
        ]

    return run


def diagnoses(user_id: str | None, limit: int) -> Query[list[dict[str, Any]]]:
    def run(conn: Connection) -> list[dict[str, Any]]:
        sql = "SELECT id, user_id, day_key, event_count, body, delivery_id, received_at"
        sql += " FROM diagnoses"
        args: tuple[Any, ...] = (limit,)
        if user_id is not None:
            sql += " WHERE user_id = ?"
            args = (user_id, limit)
        rows = conn.execute(sql + " ORDER BY id LIMIT ?", args)
        return [
            {
                "id": row_id,
                "userId": user,
                "key": key,
                "eventCount": count,
                "empty": count == 0,
                "deliveryId": delivery_id,
                "receivedAt": received_at,
                "document": json.loads(body),
            }
            for row_id, user, key, count, body, delivery_id, received_at in rows
        ]

    return run


def crash_reports(limit: int) -> Query[list[dict[str, Any]]]:
    def run(conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT report_id, itin_id, body, delivery_id, received_at FROM crash_reports"
            " ORDER BY received_at, report_id LIMIT ?",
            (limit,),
        )
        return [
            {
                "reportId": report_id,
                "itinId": itin_id,
                "deliveryId": delivery_id,
                "receivedAt": received_at,
                "document": json.loads(body),
            }
            for report_id, itin_id, body, delivery_id, received_at in rows
        ]

    return run


def receipts(
    service: str | None, delivery_id: str | None, limit: int
) -> Query[list[dict[str, Any]]]:
    def run(conn: Connection) -> list[dict[str, Any]]:
        where, args = [], []
        if service is not None:
            where.append("service = ?")
            args.append(service)
        if delivery_id is not None:
            where.append("delivery_id = ?")
            args.append(delivery_id)
        sql = "SELECT id, delivery_id, service, key, attempt, received_at, duplicate, outcome"
        sql += " FROM receipts" + (" WHERE " + " AND ".join(where) if where else "")
        rows = conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit))
        return [
            {
                "id": row_id,
                "deliveryId": did,
                "service": svc,
                "key": key,
                "attempt": attempt,
                "receivedAt": received_at,
                "duplicate": bool(duplicate),
                "outcome": outcome,
            }
            for row_id, did, svc, key, attempt, received_at, duplicate, outcome in rows
        ]

    return run


def counts(conn: Connection) -> dict[str, Any]:
    """Rows stored per service, receipts per service, and duplicates."""
    stored = {
        service: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for service, table in _COUNTED.items()
    }
    received = dict.fromkeys(_COUNTED, 0)
    duplicates = dict.fromkeys(_COUNTED, 0)
    rows = conn.execute("SELECT service, count(*), sum(duplicate) FROM receipts GROUP BY service")
    for service, total, dups in rows:
        received[service] = total
        duplicates[service] = dups or 0
    return {
        "stored": stored,
        "received": received,
        "duplicates": duplicates,
        "duplicatesTotal": sum(duplicates.values()),
        "receiptsTotal": sum(received.values()),
    }
