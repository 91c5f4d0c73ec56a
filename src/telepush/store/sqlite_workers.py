"""Worker heartbeats in the SQLite file. Runs on the writer thread."""

from __future__ import annotations

import sqlite3

from telepush.domain.delivery import WorkerInfo
from telepush.store.sqlite_rows import from_epoch

_BEAT = """
INSERT INTO workers (worker_id, host, pid, started_at, last_seen_at, in_flight)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (worker_id) DO UPDATE
SET last_seen_at = excluded.last_seen_at, in_flight = excluded.in_flight
"""

_LIST = """
SELECT worker_id, host, pid, started_at, last_seen_at, in_flight FROM workers
ORDER BY started_at, worker_id
"""


def heartbeat(
    conn: sqlite3.Connection, worker_id: str, now_s: float, host: str, pid: int, in_flight: int
) -> None:
    conn.execute(_BEAT, (worker_id, host, pid, now_s, now_s, in_flight))


def forget(conn: sqlite3.Connection, worker_id: str) -> None:
    conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))


def list_workers(conn: sqlite3.Connection) -> list[WorkerInfo]:
    return [
        WorkerInfo(wid, host, pid, from_epoch(started), from_epoch(seen), in_flight)
        for wid, host, pid, started, seen, in_flight in conn.execute(_LIST)
    ]
