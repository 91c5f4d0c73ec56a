"""Endpoint health and pausing on PostgreSQL. Each call is one transaction.

Figures come from ``endpoint_minutes`` and ``endpoint_latency`` (kept by ``record``), summed
over the minutes of the window: a window starting mid-minute includes that whole minute.
An endpoint's queue (``pending``) is counted on the ``deliveries_queue`` index.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telepush.domain.health import (
    N_LATENCY_BUCKETS,
    EndpointHealth,
    MinuteStats,
)
from telepush.store.console_rows import health_from_row
from telepush.store.endpoint_figures import minute_of
from telepush.store.postgres_conn import Conn

# Pausing by hand keeps the time of an earlier manual pause; it ends a breaker's probing.
_PAUSE = """
UPDATE endpoints
SET paused = 'manual', paused_at = CASE WHEN paused = 'manual' THEN paused_at ELSE %s END,
    probe_at = NULL
WHERE customer_id = %s AND service = %s
"""

# Resuming ends the breaker and the failure streak too.
_RESUME = """
UPDATE endpoints
SET paused = NULL, paused_at = NULL, probe_at = NULL, consecutive_failures = 0
WHERE customer_id = %s AND service = %s
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
WHERE minute >= %(first)s AND minute <= %(last)s {only}
GROUP BY customer_id, service
"""

_LATENCY = """
SELECT customer_id, service, bucket, sum(count)
FROM endpoint_latency
WHERE minute >= %(first)s AND minute <= %(last)s {only}
GROUP BY customer_id, service, bucket
"""

_THROUGHPUT = """
SELECT minute, sum(attempts), sum(failures), sum(delivered), sum(failed), sum(retried)
FROM endpoint_minutes
WHERE minute >= %(first)s {only}
GROUP BY minute
ORDER BY minute
"""


async def set_paused(
    conn: Conn, customer_id: str, service: str, paused: bool, now: datetime
) -> bool:
    """Call inside a transaction."""
    if paused:
        cur = await conn.execute(_PAUSE, (now, customer_id, service))
    else:
        cur = await conn.execute(_RESUME, (customer_id, service))
    return cur.rowcount > 0


async def endpoint_health(
    conn: Conn, *, now: datetime, since: datetime, customer_id: str | None
) -> list[EndpointHealth]:
    window = {"customer_id": customer_id, "first": minute_of(since), "last": minute_of(now)}
    only = "" if customer_id is None else "AND customer_id = %(customer_id)s"
    cur = await conn.execute(_MINUTES.format(only=only), window)
    sums: dict[tuple[str, str], tuple[int, ...]] = {
        (row[0], row[1]): tuple(int(v) for v in row[2:]) for row in await cur.fetchall()
    }
    buckets: dict[tuple[str, str], list[int]] = {}
    cur = await conn.execute(_LATENCY.format(only=only), window)
    for customer, service, bucket, count in await cur.fetchall():
        counts = buckets.setdefault((customer, service), [0] * N_LATENCY_BUCKETS)
        counts[min(bucket, N_LATENCY_BUCKETS - 1)] += int(count)
    only = "" if customer_id is None else "WHERE e.customer_id = %(customer_id)s"
    cur = await conn.execute(_ENDPOINTS.format(only=only), {"customer_id": customer_id})
    return [health_from_row(row, sums, buckets, _same) for row in await cur.fetchall()]


async def throughput(conn: Conn, *, since: datetime, customer_id: str | None) -> list[MinuteStats]:
    only = "" if customer_id is None else "AND customer_id = %(customer_id)s"
    cur = await conn.execute(
        _THROUGHPUT.format(only=only), {"customer_id": customer_id, "first": minute_of(since)}
    )
    return [
        MinuteStats(datetime.fromtimestamp(row[0] * 60, UTC), *(int(v) for v in row[1:]))
        for row in await cur.fetchall()
    ]


def _same(value: datetime | None) -> datetime | None:
    return value
