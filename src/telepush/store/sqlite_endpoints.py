"""Endpoint health and pausing on SQLite. Runs on the writer thread.

Figures come from ``endpoint_minutes`` and ``endpoint_latency`` (kept by ``record``), summed
over the minutes of the window: a window starting mid-minute includes that whole minute.
An endpoint's queue (``pending``) is counted on the ``deliveries_queue`` index.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from telepush.domain.health import (
    N_LATENCY_BUCKETS,
    EndpointHealth,
    MinuteStats,
)
from telepush.store.console_rows import health_from_row
from telepush.store.sqlite_rows import from_epoch

# Pausing by hand keeps the time of an earlier manual pause; it ends a breaker's probing.
_PAUSE = """
UPDATE endpoints
SET paused = 'manual', paused_at = CASE WHEN paused = 'manual' THEN paused_at ELSE ? END,
    probe_at = NULL
WHERE customer_id = ? AND service = ?
"""

# Resuming ends the breaker and the failure streak too.
_RESUME = """
UPDATE endpoints
SET paused = NULL, paused_at = NULL, probe_at = NULL, consecutive_failures = 0
WHERE customer_id = ? AND service = ?
"""

_ENDPOINTS = """
SELECT e.customer_id, e.service, e.enabled, e.paused, e.paused_at, e.probe_at,
       e.consecutive_failures, e.last_success_at, e.last_failure_at,
       (SELECT count(*) FROM deliveries AS d
        WHERE d.customer_id = e.customer_id AND d.service = e.service
          AND d.status = 'pending')
FROM endpoints AS e
{only}
ORDER BY e.customer_id, e.service
"""

_MINUTES = """
SELECT customer_id, service, sum(attempts), sum(failures), sum(delivered), sum(failed),
       sum(retried)
FROM endpoint_minutes
WHERE minute >= :first AND minute <= :last {only}
GROUP BY customer_id, service
"""

_LATENCY = """
SELECT customer_id, service, bucket, sum(count)
FROM endpoint_latency
WHERE minute >= :first AND minute <= :last {only}
GROUP BY customer_id, service, bucket
"""

_THROUGHPUT = """
SELECT minute, sum(attempts), sum(failures), sum(delivered), sum(failed), sum(retried)
FROM endpoint_minutes
WHERE minute >= :first {only}
GROUP BY minute
ORDER BY minute
"""


def set_paused(
    conn: sqlite3.Connection, customer_id: str, service: str, paused: bool, now_s: float
) -> bool:
    if paused:
        cur = conn.execute(_PAUSE, (now_s, customer_id, service))
    else:
        cur = conn.execute(_RESUME, (customer_id, service))
    return cur.rowcount > 0


def endpoint_health(
    conn: sqlite3.Connection, *, now_s: float, since_s: float, customer_id: str | None
) -> list[EndpointHealth]:
    window = {"customer_id": customer_id, "first": int(since_s // 60), "last": int(now_s // 60)}
    only = "" if customer_id is None else "AND customer_id = :customer_id"
    sums: dict[tuple[str, str], tuple[int, ...]] = {
        (row[0], row[1]): tuple(row[2:]) for row in conn.execute(_MINUTES.format(only=only), window)
    }
    buckets: dict[tuple[str, str], list[int]] = {}
    for customer, service, bucket, count in conn.execute(_LATENCY.format(only=only), window):
        counts = buckets.setdefault((customer, service), [0] * N_LATENCY_BUCKETS)
        counts[min(bucket, N_LATENCY_BUCKETS - 1)] += count
    only = "" if customer_id is None else "WHERE e.customer_id = :customer_id"
    rows = conn.execute(_ENDPOINTS.format(only=only), {"customer_id": customer_id}).fetchall()
    return [health_from_row(row, sums, buckets, _time) for row in rows]


def throughput(
    conn: sqlite3.Connection, *, since_s: float, customer_id: str | None
) -> list[MinuteStats]:
    only = "" if customer_id is None else "AND customer_id = :customer_id"
    window = {"customer_id": customer_id, "first": int(since_s // 60)}
    rows = conn.execute(_THROUGHPUT.format(only=only), window)
    return [
        MinuteStats(from_epoch(minute * 60), attempts, failures, delivered, failed, retried)
        for minute, attempts, failures, delivered, failed, retried in rows
    ]


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else from_epoch(seconds)
