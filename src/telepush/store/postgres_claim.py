"""Claiming due deliveries with leases on PostgreSQL, fairly across endpoints and processes.

One claim is one transaction. It lists the enabled endpoints (customer, service) that have
due work, starting after the endpoint it served last, and goes round them like the SQLite
store: each round offers every endpoint still in play an equal share of what is left of
``limit`` (rounded up), until ``limit`` is reached or none has more to give. The statements
of one round go to the server together (pipelined ``executemany``):

1. On its first visit an endpoint is locked with ``pg_try_advisory_xact_lock``: a claimer of
   another process holding it means "skip it this time", never "wait". Then its live leases
   (``sending`` with ``due_at`` in the future) are counted, by a later statement and so on a
   later snapshot than the lock: whatever another claimer leased before releasing the lock
   is counted. The count covers every process, so ``per_endpoint_limit`` holds cluster-wide.
2. Up to its allowance of due rows is leased with ``SELECT ... FOR UPDATE SKIP LOCKED`` and
   ``UPDATE ... RETURNING``: rows another transaction is changing are left alone.

Every query is a bounded range scan of ``deliveries_queue`` (customer_id, service, status,
due_at): ``pending`` and ``sending`` are two ranges, each read in ``due_at`` order and merged,
so the cost does not grow with the backlog.

Paused endpoints: one paused by hand (``paused = 'manual'``) is not listed. One paused by the
circuit breaker (``'breaker'``) is offered a single probe, its oldest due delivery, when its
``probe_at`` has come and nothing of it is in flight: once the endpoint is locked and its
live leases are counted (none), the probe slot is taken by moving ``probe_at``
``probe_interval_s`` on with an UPDATE that checks ``probe_at`` again, so two processes never
probe at once even on a stale list. ``record`` opens the breaker with ``probe_at`` NULL: the
first claim that lists it schedules the first probe ``probe_interval_s`` later (the
cool-down) without sending anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from telepush.domain.delivery import Claimed
from telepush.store.postgres_conn import Conn
from telepush.store.postgres_ingest import DELETED_TRIP, TRIP

# First key of the per-endpoint advisory locks ('tpsh'); the second is a hash of the endpoint.
CLAIM_LOCK_CLASS = 0x74707368


@dataclass
class ClaimRotation:
    """Where the next claim starts: just after this endpoint. Lives with the store."""

    after: tuple[str, str] | None = None


@dataclass
class _Endpoint:
    customer_id: str
    service: str
    revision: int
    paused: str | None = None  # None or 'breaker' (a manual pause is not listed)
    probe_at: datetime | None = None
    free: int | None = None  # lease slots left; known once locked and counted
    drained: bool = False  # nothing more to take in this claim


# Enabled endpoints with at least one due row, pending or with an expired lease: running, or
# paused by the breaker with a probe due (or not scheduled yet).
ENDPOINTS = """
SELECT e.customer_id, e.service, c.revision, e.paused, e.probe_at
FROM endpoints AS e JOIN customers AS c ON c.customer_id = e.customer_id
WHERE e.enabled
  AND (e.paused IS NULL
       OR (e.paused = 'breaker' AND (e.probe_at IS NULL OR e.probe_at <= %(now)s)))
  AND (EXISTS (SELECT 1 FROM deliveries AS d
               WHERE d.customer_id = e.customer_id AND d.service = e.service
                 AND d.status = 'pending' AND d.due_at <= %(now)s)
       OR EXISTS (SELECT 1 FROM deliveries AS d
                  WHERE d.customer_id = e.customer_id AND d.service = e.service
                    AND d.status = 'sending' AND d.due_at <= %(now)s))
ORDER BY e.customer_id, e.service
"""

LOCK = f"""
SELECT pg_try_advisory_xact_lock(
  {CLAIM_LOCK_CLASS}, hashtext(%(customer_id)s || '/' || %(service)s))
"""

LIVE_LEASES = """
SELECT count(*) FROM deliveries
WHERE customer_id = %(customer_id)s AND service = %(service)s AND status = 'sending'
  AND due_at > %(now)s
"""

# A breaker just opened: its first probe comes one interval later.
SCHEDULE_PROBE = """
UPDATE endpoints SET probe_at = %(next_probe)s
WHERE customer_id = %(customer_id)s AND service = %(service)s AND paused = 'breaker'
  AND probe_at IS NULL
"""

# The probe slot of a breaker's endpoint: taken by whoever moves probe_at on first.
TAKE_PROBE = """
UPDATE endpoints SET probe_at = %(next_probe)s
WHERE customer_id = %(customer_id)s AND service = %(service)s AND paused = 'breaker'
  AND probe_at <= %(now)s
RETURNING true
"""

# A deletion waits while a push of the same trip is in flight.
_WAIT_FOR_TRIP = f"""
      AND (d.service <> '{DELETED_TRIP}' OR NOT EXISTS (
        SELECT 1 FROM deliveries AS t
        WHERE t.customer_id = d.customer_id AND t.service = '{TRIP}' AND t.key = d.key
          AND t.status = 'sending'))"""


def _due(status: str) -> str:
    return f"""
    SELECT d.seq, d.due_at FROM deliveries AS d
    WHERE d.customer_id = %(customer_id)s AND d.service = %(service)s
      AND d.status = '{status}' AND d.due_at <= %(now)s{_WAIT_FOR_TRIP}
    ORDER BY d.due_at, d.seq
    LIMIT %(count)s
    FOR UPDATE SKIP LOCKED"""


LEASE = f"""
WITH due AS (
  SELECT seq, due_at FROM ({_due("pending")}) AS pending_due
  UNION ALL
  SELECT seq, due_at FROM ({_due("sending")}) AS expired
  ORDER BY due_at, seq
  LIMIT %(count)s
)
UPDATE deliveries AS d
SET status = 'sending', due_at = %(until)s, lease_owner = %(worker_id)s,
    attempt_count = d.attempt_count + 1, updated_at = %(now)s
FROM due WHERE d.seq = due.seq
RETURNING d.delivery_id, d.customer_id, d.service, d.key,
          (SELECT p.body FROM payloads AS p WHERE p.seq = d.seq), d.created_at,
          d.attempt_count, due.due_at, d.seq, d.manual
"""

NEXT_DUE = """
SELECT min(first.due_at)
FROM endpoints AS e
CROSS JOIN LATERAL (
  SELECT * FROM (SELECT d.due_at FROM deliveries AS d
                 WHERE d.customer_id = e.customer_id AND d.service = e.service
                   AND d.status = 'pending'
                 ORDER BY d.due_at LIMIT 1) AS p
  UNION ALL
  SELECT * FROM (SELECT d.due_at FROM deliveries AS d
                 WHERE d.customer_id = e.customer_id AND d.service = e.service
                   AND d.status = 'sending'
                 ORDER BY d.due_at LIMIT 1) AS s
) AS first
WHERE e.enabled
"""


async def claim(
    conn: Conn,
    rotation: ClaimRotation,
    *,
    now: datetime,
    worker_id: str,
    lease_s: float,
    per_endpoint_limit: int,
    limit: int,
    probe_interval_s: float = 30.0,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries. Call inside a transaction."""
    if limit <= 0 or per_endpoint_limit <= 0:
        return []
    endpoints = await _endpoints_in_turn(conn, rotation.after, now)
    claimed: list[Claimed] = []
    base = {
        "now": now,
        "until": now + timedelta(seconds=lease_s),
        "worker_id": worker_id,
        "next_probe": now + timedelta(seconds=probe_interval_s),
    }
    opened = [e for e in endpoints if e.paused is not None and e.probe_at is None]
    if opened:
        await _each(conn, SCHEDULE_PROBE, opened, base)
    active = [e for e in endpoints if e.paused is None or e.probe_at is not None]
    while active and len(claimed) < limit:
        left = limit - len(claimed)
        share = -(-left // len(active))  # rounded up
        wants: list[tuple[_Endpoint, int]] = []
        for endpoint in active:
            want = min(share, left)
            if want <= 0:
                break
            wants.append((endpoint, want))
            left -= want
        await _lock_and_count(
            conn, [e for e, _ in wants if e.free is None], per_endpoint_limit, base
        )
        asks = [(e, min(want, e.free or 0)) for e, want in wants]
        got = await _lease(conn, [(e, n) for e, n in asks if n > 0], base)
        for endpoint, want in wants:
            taken = got.get((endpoint.customer_id, endpoint.service), [])
            endpoint.free = (endpoint.free or 0) - len(taken)
            endpoint.drained = len(taken) < want
            if taken:
                rotation.after = (endpoint.customer_id, endpoint.service)
                claimed.extend(taken)
        active = [e for e in active if not e.drained]
    return claimed


async def next_due_at(conn: Conn) -> datetime | None:
    """Earliest due_at of a pending or sending delivery of an enabled endpoint."""
    cur = await conn.execute(NEXT_DUE)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def _endpoints_in_turn(
    conn: Conn, after: tuple[str, str] | None, now: datetime
) -> list[_Endpoint]:
    cur = await conn.execute(ENDPOINTS, {"now": now})
    endpoints = [_Endpoint(*row) for row in await cur.fetchall()]
    if after is None:
        return endpoints
    start = next((i for i, e in enumerate(endpoints) if (e.customer_id, e.service) > after), 0)
    return endpoints[start:] + endpoints[:start]


async def _lock_and_count(
    conn: Conn, endpoints: list[_Endpoint], per_endpoint_limit: int, base: dict[str, object]
) -> None:
    """Lock each endpoint for this transaction and set its free slots (0 when not locked);
    a breaker's endpoint with nothing in flight gets one slot if it takes the probe."""
    if not endpoints:
        return
    params = [{**base, "customer_id": e.customer_id, "service": e.service} for e in endpoints]
    async with conn.cursor() as cur:
        await cur.executemany(LOCK, params, returning=True)
        locked = await _first_column_of_each(cur)
        held = [e for e, ok in zip(endpoints, locked, strict=True) if ok]
        live: list[int] = []
        if held:
            await cur.executemany(LIVE_LEASES, [_params(e, base) for e in held], returning=True)
            live = await _first_column_of_each(cur)
    for endpoint in endpoints:
        endpoint.free = 0
    probes: list[_Endpoint] = []
    for endpoint, count in zip(held, live, strict=True):
        if endpoint.paused is None:
            endpoint.free = max(0, per_endpoint_limit - count)
        elif count == 0:
            probes.append(endpoint)
    if probes:
        taken = await _each(conn, TAKE_PROBE, probes, base, returning=True)
        for endpoint, took in zip(probes, taken, strict=True):
            endpoint.free = 1 if took else 0


def _params(endpoint: _Endpoint, base: dict[str, object]) -> dict[str, object]:
    return {**base, "customer_id": endpoint.customer_id, "service": endpoint.service}


async def _each(
    conn: Conn,
    query: str,
    endpoints: list[_Endpoint],
    base: dict[str, object],
    *,
    returning: bool = False,
) -> list[Any]:
    """Run ``query`` for each endpoint, pipelined; with ``returning``, the first value of
    each one's result (None when it returned no row)."""
    async with conn.cursor() as cur:
        params = [_params(e, base) for e in endpoints]
        await cur.executemany(query, params, returning=returning)
        return await _first_column_of_each(cur) if returning else []


async def _lease(
    conn: Conn, asks: list[tuple[_Endpoint, int]], base: dict[str, object]
) -> dict[tuple[str, str], list[Claimed]]:
    if not asks:
        return {}
    params = [
        {**base, "customer_id": e.customer_id, "service": e.service, "count": n} for e, n in asks
    ]
    got: dict[tuple[str, str], list[Claimed]] = {}
    async with conn.cursor() as cur:
        await cur.executemany(LEASE, params, returning=True)
        for endpoint, _ in asks:
            rows = sorted(await cur.fetchall(), key=lambda r: (r[7], r[8]))
            got[(endpoint.customer_id, endpoint.service)] = [
                Claimed(
                    delivery_id=row[0],
                    customer_id=row[1],
                    service=row[2],
                    key=row[3],
                    payload=bytes(row[4]),
                    created_at=row[5],
                    attempt_number=row[6],
                    customer_revision=endpoint.revision,
                    manual=row[9],
                )
                for row in rows
            ]
            cur.nextset()
    return got


async def _first_column_of_each(cur: psycopg.AsyncCursor[Any]) -> list[Any]:
    """The first value of each result set an ``executemany(..., returning=True)`` left."""
    values: list[Any] = []
    while True:
        row = await cur.fetchone()
        values.append(None if row is None else row[0])
        if not cur.nextset():
            return values


# The deliveries' size as the planner last saw it, and as it is.
_QUEUE_SIZE = """
SELECT c.reltuples, c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int
FROM pg_class AS c WHERE c.oid = 'deliveries'::regclass
"""


async def analyze_queue(conn: Conn) -> None:
    """``ANALYZE`` the deliveries if the planner's picture of them is out of date: the table
    holds rows and was never analysed, or has more than doubled since (see
    ``Store.refresh_statistics``). An empty table is left alone: analysed empty, the
    planner would go on taking it for empty as a backlog arrives. Waits at most a few
    seconds for the lock (held by a running ``VACUUM`` or another worker's ``ANALYZE``,
    which does the same)."""
    row = await (await conn.execute(_QUEUE_SIZE)).fetchone()
    if row is None:
        return
    reltuples, relpages, pages = row
    if pages == 0 or (reltuples >= 0 and pages <= 2 * relpages + 8):
        return
    await conn.execute("SET LOCAL lock_timeout = '3s'")
    await conn.execute("ANALYZE deliveries")
