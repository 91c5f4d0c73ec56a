"""Claiming due deliveries with leases, fairly across endpoints. Runs on the writer thread.

Work is found per endpoint (customer, service), never by scanning the whole queue: every
query below is a range scan of ``deliveries_queue`` (customer_id, service, status, due_at),
bounded by a ``LIMIT``, so its cost does not grow with the backlog.

Fairness: a claim goes round the endpoints offering each an equal share of what is left of
``limit`` (rounded up), again and again until ``limit`` is reached or no endpoint has more
to give; the next claim starts after the endpoint served last, so when there are more
endpoints than ``limit`` they take turns from one claim to the next.

Paused endpoints: one paused by hand (``paused = 'manual'``) is not offered anything. One
paused by the circuit breaker (``'breaker'``) is offered a single probe, its oldest due
delivery, when its ``probe_at`` has come and nothing of it is in flight; taking the probe
moves ``probe_at`` ``probe_interval_s`` on. ``record`` opens the breaker with ``probe_at``
NULL: the first claim that sees it then schedules the first probe ``probe_interval_s``
later (the cool-down) without sending anything. These are reads and writes of the small
``endpoints`` table and the same bounded ``deliveries_queue`` ranges as ever.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from telepush.domain.delivery import Claimed, StoredPayload
from telepush.store.sqlite_rows import from_epoch

TRIP = "trip"
DELETED_TRIP = "deleted-trip"


@dataclass
class ClaimRotation:
    """Where the next claim starts: just after this endpoint. Lives with the store."""

    after: tuple[str, str] | None = None


@dataclass
class _Endpoint:
    customer_id: str
    service: str
    revision: int
    paused: str | None = None  # None, 'manual' or 'breaker'
    probe_at: float | None = None
    streak: int = 0  # consecutive failed attempts
    free: int | None = None  # lease slots left; counted when first needed
    drained: bool = False  # no more due rows (or no free slot) in this claim


_ENDPOINTS = """
SELECT e.customer_id, e.service, c.revision, e.paused, e.probe_at, e.consecutive_failures
FROM endpoints AS e JOIN customers AS c ON c.customer_id = e.customer_id
WHERE e.enabled AND (e.paused IS NULL OR e.paused = 'breaker')
ORDER BY e.customer_id, e.service
"""

_LIVE_LEASES = """
SELECT count(*) FROM deliveries
WHERE customer_id = ? AND service = ? AND status = 'sending' AND due_at > ?
"""

# Leases whose attempt the claiming worker has finished (outcome not recorded yet) hold no
# request to the endpoint: they do not count against its limit.
_LIVE_LEASES_BUT_FINISHED = (
    _LIVE_LEASES + "  AND delivery_id NOT IN (SELECT value FROM json_each(?))\n"
)

# {status} is 'pending' (due for an attempt) or 'sending' (lease expired): two index ranges,
# each already ordered by (due_at, seq), merged by the lease's UPDATE.
_DUE = """
    SELECT due_at, seq FROM deliveries AS d
    WHERE d.customer_id = :customer_id AND d.service = :service AND d.status = '{status}'
      AND d.due_at <= :now{wait}
    ORDER BY d.due_at, d.seq
    LIMIT :count"""

# A deletion waits while a push of the same trip is in flight.
_WAIT_FOR_TRIP = f"""
  AND NOT EXISTS (
    SELECT 1 FROM deliveries AS t
    WHERE t.customer_id = d.customer_id AND t.service = '{TRIP}' AND t.key = d.key
      AND t.status = 'sending')"""

# A breaker just opened (probe_at NULL) gets its first probe one interval later; a probe
# taken moves the next one an interval on.
_SCHEDULE_PROBE = """
UPDATE endpoints SET probe_at = ?
WHERE customer_id = ? AND service = ? AND paused = 'breaker'
"""

# One statement chooses the oldest due rows and leases them: the sqlite3 module releases the
# GIL around every step, and a step per chosen row (then a statement per claim) made the
# writer thread queue for the GIL behind the event loop once per row.
_LEASE = """
UPDATE deliveries
SET status = 'sending', due_at = :until, lease_owner = :worker_id,
    attempt_count = attempt_count + 1, updated_at = :now
WHERE seq IN (
  SELECT seq FROM (
    SELECT due_at, seq FROM ({pending})
    UNION ALL
    SELECT due_at, seq FROM ({sending})
    ORDER BY due_at, seq
    LIMIT :count))
RETURNING delivery_id, customer_id, service, key, seq,
          (SELECT CASE WHEN :inline_max IS NULL OR length(p.body) <= :inline_max THEN p.body END
           FROM payloads AS p WHERE p.seq = deliveries.seq),
          created_at, attempt_count, manual
"""


@functools.cache
def _lease_sql(wait: str) -> str:
    return _LEASE.format(
        pending=_DUE.format(status="pending", wait=wait),
        sending=_DUE.format(status="sending", wait=wait),
    )


_NEXT_DUE = """
SELECT min(due_at) FROM (
  SELECT (SELECT d.due_at FROM deliveries AS d
          WHERE d.customer_id = e.customer_id AND d.service = e.service
            AND d.status = 'pending'
          ORDER BY d.due_at LIMIT 1) AS due_at
  FROM endpoints AS e WHERE e.enabled
  UNION ALL
  SELECT (SELECT d.due_at FROM deliveries AS d
          WHERE d.customer_id = e.customer_id AND d.service = e.service
            AND d.status = 'sending'
          ORDER BY d.due_at LIMIT 1)
  FROM endpoints AS e WHERE e.enabled
)
"""


def claim(
    conn: sqlite3.Connection,
    rotation: ClaimRotation,
    *,
    now_s: float,
    worker_id: str,
    lease_s: float,
    per_endpoint_limit: int,
    limit: int,
    probe_interval_s: float = 30.0,
    finished: Sequence[str] = (),
    prefetch: int = 0,
    inline_payload_max: int | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries (see ``Store.claim``). A payload longer than
    ``inline_payload_max`` bytes is not read (SQLite reads a blob's length without it) and
    comes as ``StoredPayload``, as does one that is no longer in the store."""
    if limit <= 0 or per_endpoint_limit <= 0:
        return []
    endpoints = _endpoints_in_turn(conn, rotation.after)
    next_probe_s = now_s + probe_interval_s
    active: list[_Endpoint] = []
    for endpoint in endpoints:
        if endpoint.paused is None:
            active.append(endpoint)
        elif endpoint.probe_at is None:  # the breaker has just opened: cool down first
            _schedule_probe(conn, endpoint, next_probe_s)
        elif endpoint.probe_at <= now_s:
            active.append(endpoint)  # offered one probe (see _free)
    lease = _Lease(
        conn,
        now_s=now_s,
        until_s=now_s + lease_s,
        worker_id=worker_id,
        finished=finished,
        inline_payload_max=inline_payload_max,
    )
    claimed: list[Claimed] = []
    while active and len(claimed) < limit:
        share = -(-(limit - len(claimed)) // len(active))  # rounded up
        for endpoint in active:
            want = min(share, limit - len(claimed))
            if want <= 0:
                break
            if endpoint.free is None:
                endpoint.free = _free(endpoint, lease.live(endpoint), per_endpoint_limit, prefetch)
            got = lease.take(endpoint, min(want, endpoint.free))
            endpoint.free -= len(got)
            if got and endpoint.paused is not None:
                _schedule_probe(conn, endpoint, next_probe_s)
            endpoint.drained = len(got) < want
            if got:
                rotation.after = (endpoint.customer_id, endpoint.service)
                claimed.extend(got)
        active = [e for e in active if not e.drained]
    return claimed


def _free(endpoint: _Endpoint, live: int, per_endpoint_limit: int, prefetch: int) -> int:
    """Lease slots of ``endpoint``: ``prefetch`` more for one whose last attempt succeeded;
    a breaker's probe goes alone."""
    if endpoint.paused is None:
        return per_endpoint_limit + (prefetch if endpoint.streak == 0 else 0) - live
    return 1 if live == 0 else 0


def _schedule_probe(conn: sqlite3.Connection, endpoint: _Endpoint, probe_at_s: float) -> None:
    conn.execute(_SCHEDULE_PROBE, (probe_at_s, endpoint.customer_id, endpoint.service))


def next_due_at(conn: sqlite3.Connection) -> float | None:
    """Earliest due_at of a pending or sending delivery of an enabled endpoint."""
    due_at: float | None = conn.execute(_NEXT_DUE).fetchone()[0]
    return due_at


def _endpoints_in_turn(conn: sqlite3.Connection, after: tuple[str, str] | None) -> list[_Endpoint]:
    endpoints = [_Endpoint(*row) for row in conn.execute(_ENDPOINTS)]
    if after is None:
        return endpoints
    start = next((i for i, e in enumerate(endpoints) if (e.customer_id, e.service) > after), 0)
    return endpoints[start:] + endpoints[:start]


class _Lease:
    """The statements of one claim, sharing its clock and worker."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        now_s: float,
        until_s: float,
        worker_id: str,
        finished: Sequence[str] = (),
        inline_payload_max: int | None = None,
    ) -> None:
        self._conn = conn
        self._inline_max = inline_payload_max
        self._now_s = now_s
        self._until_s = until_s
        self._worker_id = worker_id
        self._finished = json.dumps(list(finished)) if finished else None

    def live(self, endpoint: _Endpoint) -> int:
        """Leases of ``endpoint`` with a request in flight (a breaker's: every lease)."""
        args: tuple[object, ...] = (endpoint.customer_id, endpoint.service, self._now_s)
        query = _LIVE_LEASES
        if self._finished is not None and endpoint.paused is None:
            query, args = _LIVE_LEASES_BUT_FINISHED, (*args, self._finished)
        row = self._conn.execute(query, args).fetchone()
        live: int = row[0]
        return live

    def take(self, endpoint: _Endpoint, count: int) -> list[Claimed]:
        if count <= 0:
            return []
        wait = _WAIT_FOR_TRIP if endpoint.service == DELETED_TRIP else ""
        rows = self._conn.execute(
            _lease_sql(wait),
            {
                "customer_id": endpoint.customer_id,
                "service": endpoint.service,
                "now": self._now_s,
                "until": self._until_s,
                "worker_id": self._worker_id,
                "count": count,
                "inline_max": self._inline_max,
            },
        ).fetchall()
        return [
            Claimed(
                delivery_id=delivery_id,
                customer_id=customer_id,
                service=service,
                key=key,
                payload=StoredPayload(seq) if payload is None else payload,
                created_at=from_epoch(created_at),
                attempt_number=attempt_count,
                customer_revision=endpoint.revision,
                manual=bool(manual),
            )
            for (
                delivery_id,
                customer_id,
                service,
                key,
                seq,
                payload,
                created_at,
                attempt_count,
                manual,
            ) in rows
        ]
