"""Worker heartbeats in PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from telepush.domain.delivery import WorkerInfo
from telepush.store.postgres_conn import Conn

_BEAT = """
INSERT INTO workers (worker_id, host, pid, started_at, last_seen_at, in_flight)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (worker_id) DO UPDATE
SET last_seen_at = excluded.last_seen_at, in_flight = excluded.in_flight
"""

_LIST = """
SELECT worker_id, host, pid, started_at, last_seen_at, in_flight FROM workers
ORDER BY started_at, worker_id
"""


async def heartbeat(
    conn: Conn, worker_id: str, now: datetime, host: str, pid: int, in_flight: int
) -> None:
    await conn.execute(_BEAT, (worker_id, host, pid, now, now, in_flight))


async def forget(conn: Conn, worker_id: str) -> None:
    await conn.execute("DELETE FROM workers WHERE worker_id = %s", (worker_id,))


async def list_workers(conn: Conn) -> list[WorkerInfo]:
    cur = await conn.execute(_LIST)
    return [WorkerInfo(*row) for row in await cur.fetchall()]
