"""Writing the queue: enqueue, record outcomes, release leases. Runs on the writer thread.

Deletion wins: once a ``deleted-trip`` of a key is queued, no ``trip`` of the same customer
and key stays ``pending`` or ``failed`` — each becomes ``superseded`` with its payload erased,
at enqueue time or, for a trip then in flight, when its outcome is recorded (unless it was
delivered) or its lease released. A dead trip is superseded too, so replaying failures
never resends a deleted trip.

Recording also keeps each endpoint's health in the same transaction: its per-minute figures,
latency buckets, failure streak and circuit breaker (see ``endpoint_figures``), with one
statement per table for the whole batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from telepush.domain.delivery import EnqueueResult, NewDelivery, Outcome, Status
from telepush.store.endpoint_figures import breaker_sql, figures
from telepush.store.sqlite_claim import DELETED_TRIP, TRIP
from telepush.store.sqlite_rows import to_epoch

_INSERT = """
INSERT INTO deliveries (delivery_id, customer_id, service, key, idempotency_key,
                        status, due_at, attempt_count, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?)
ON CONFLICT (customer_id, service, idempotency_key) WHERE idempotency_key IS NOT NULL
DO NOTHING
"""

# seq only grows (AUTOINCREMENT) and the transaction holds the write lock: the rows above
# the highest seq before an insert are exactly the rows it wrote.
_LAST_SEQ = "SELECT max(seq) FROM deliveries"
_WRITTEN = "SELECT delivery_id, seq FROM deliveries WHERE seq > ?"

_INSERT_PAYLOAD = "INSERT INTO payloads (seq, body) VALUES (?, ?)"

_EARLIER = """
SELECT delivery_id, status FROM deliveries
WHERE customer_id = ? AND service = ? AND idempotency_key = ?
"""

# Trips queued before the deletion (lower seq): a trip queued after it is a new push.
_SUPERSEDE_TRIPS = f"""
UPDATE deliveries
SET status = 'superseded', due_at = NULL, lease_owner = NULL, updated_at = ?
WHERE customer_id = ? AND service = '{TRIP}' AND key = ? AND status IN ('pending', 'failed')
  AND seq < ?
"""

# A superseded trip has no payload: erasing those of a key again is harmless.
_ERASE_SUPERSEDED_TRIPS = f"""
DELETE FROM payloads WHERE seq IN (
  SELECT seq FROM deliveries
  WHERE customer_id = ? AND service = '{TRIP}' AND key = ? AND status = 'superseded')
"""

_INSERT_ATTEMPT = """
INSERT INTO attempts (delivery_seq, number, at, status_code, error, duration_ms, response,
                      detail)
SELECT seq, ?, ?, ?, ?, ?, ?, ? FROM deliveries WHERE delivery_id = ?
"""

# Only the lease holder moves a delivery on, except that a 200 is a 200: a delivered outcome
# is applied whenever the delivery is not final yet.
_APPLY_OUTCOME = """
UPDATE deliveries
SET status = :status, due_at = :due_at, lease_owner = NULL, updated_at = :at
WHERE delivery_id = :delivery_id
  AND ((status = 'sending' AND lease_owner = :worker_id)
       OR (:status = 'delivered' AND status IN ('pending', 'sending')))
"""

_SUPERSEDE_IF_DELETED = f"""
UPDATE deliveries
SET status = 'superseded', due_at = NULL, updated_at = ?
WHERE delivery_id = ? AND service = '{TRIP}' AND status IN ('pending', 'failed')
  AND EXISTS (SELECT 1 FROM deliveries AS x
              WHERE x.customer_id = deliveries.customer_id AND x.service = '{DELETED_TRIP}'
                AND x.key = deliveries.key)
"""

_ERASE_IF_SUPERSEDED = """
DELETE FROM payloads
WHERE seq = (SELECT seq FROM deliveries WHERE delivery_id = ? AND status = 'superseded')
"""

_ADD_MINUTE = """
INSERT INTO endpoint_minutes (customer_id, service, minute, attempts, failures, delivered,
                              failed, retried)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (customer_id, service, minute) DO UPDATE
SET attempts = endpoint_minutes.attempts + excluded.attempts,
    failures = endpoint_minutes.failures + excluded.failures,
    delivered = endpoint_minutes.delivered + excluded.delivered,
    failed = endpoint_minutes.failed + excluded.failed,
    retried = endpoint_minutes.retried + excluded.retried
"""

_ADD_LATENCY = """
INSERT INTO endpoint_latency (customer_id, service, minute, bucket, count)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (customer_id, service, minute, bucket) DO UPDATE
SET count = endpoint_latency.count + excluded.count
"""

_BREAKER = breaker_sql(":{}")

# max() of SQLite is NULL when an argument is: keep the latest known time.
_UPDATE_ENDPOINT = f"""
UPDATE endpoints
SET consecutive_failures = {_BREAKER["consecutive_failures"]},
    paused = {_BREAKER["paused"]},
    paused_at = {_BREAKER["paused_at"]},
    probe_at = {_BREAKER["probe_at"]},
    last_success_at = max(coalesce(last_success_at, :success_at),
                          coalesce(:success_at, last_success_at)),
    last_failure_at = max(coalesce(last_failure_at, :failure_at),
                          coalesce(:failure_at, last_failure_at))
WHERE customer_id = :customer_id AND service = :service
"""

_RELEASE = """
UPDATE deliveries
SET status = 'pending', due_at = ?, lease_owner = NULL, attempt_count = attempt_count - 1,
    updated_at = ?
WHERE delivery_id = ? AND status = 'sending' AND lease_owner = ?
"""


def enqueue(conn: sqlite3.Connection, items: Sequence[NewDelivery]) -> list[EnqueueResult]:
    """Insert ``items`` in order, as one call after another would, with one statement per
    table; a duplicate reports its delivery's status as the whole batch leaves it."""
    created = [to_epoch(item.created_at) for item in items]
    last_seq = conn.execute(_LAST_SEQ).fetchone()[0] or 0
    conn.executemany(
        _INSERT,
        [
            (i.delivery_id, i.customer_id, i.service, i.key, i.idempotency_key, at, at, at)
            for i, at in zip(items, created, strict=True)
        ],
    )
    written: dict[str, int] = dict(conn.execute(_WRITTEN, (last_seq,)).fetchall())
    conn.executemany(
        _INSERT_PAYLOAD,
        [(written[i.delivery_id], i.payload) for i in items if i.delivery_id in written],
    )
    deletions = [
        (at, i.customer_id, i.key, written[i.delivery_id])
        for i, at in zip(items, created, strict=True)
        if i.service == DELETED_TRIP and i.key is not None and i.delivery_id in written
    ]
    if deletions:
        conn.executemany(_SUPERSEDE_TRIPS, deletions)
        conn.executemany(_ERASE_SUPERSEDED_TRIPS, [(c, key) for _, c, key, _ in deletions])
    results: list[EnqueueResult] = []
    for item in items:
        if item.delivery_id in written:
            results.append(EnqueueResult(item.delivery_id, Status.PENDING))
            continue
        delivery_id, status = conn.execute(
            _EARLIER, (item.customer_id, item.service, item.idempotency_key)
        ).fetchone()
        results.append(EnqueueResult(delivery_id, Status(status), duplicate=True))
    return results


def record(
    conn: sqlite3.Connection, outcomes: Sequence[Outcome], worker_id: str, pause_after: int = 0
) -> None:
    """Attempts are history: each is kept even when its worker has lost the lease, but only
    the lease holder (or a 200) moves the delivery to its next state. Endpoint health is
    updated from every outcome; ``pause_after`` > 0 arms the circuit breaker."""
    conn.executemany(
        _INSERT_ATTEMPT,
        [
            (
                o.attempt.number,
                to_epoch(o.attempt.at),
                o.attempt.status_code,
                None if o.attempt.error is None else str(o.attempt.error),
                o.attempt.duration_ms,
                o.attempt.response,
                o.attempt.detail,
                o.delivery_id,
            )
            for o in outcomes
        ],
    )
    conn.executemany(
        _APPLY_OUTCOME,
        [
            {
                "status": str(o.status),
                "due_at": None if o.next_attempt_at is None else to_epoch(o.next_attempt_at),
                "at": to_epoch(o.attempt.at),
                "delivery_id": o.delivery_id,
                "worker_id": worker_id,
            }
            for o in outcomes
        ],
    )
    retried = [
        (to_epoch(o.attempt.at), o.delivery_id) for o in outcomes if o.status != Status.DELIVERED
    ]
    _supersede_if_deleted(conn, retried)
    _record_figures(conn, outcomes, pause_after)


def _record_figures(
    conn: sqlite3.Connection, outcomes: Sequence[Outcome], pause_after: int
) -> None:
    batch = figures(outcomes)
    conn.executemany(
        _ADD_MINUTE,
        [m.as_row() for m in batch.minutes],
    )
    conn.executemany(_ADD_LATENCY, batch.latency)
    conn.executemany(
        _UPDATE_ENDPOINT,
        [
            {
                "customer_id": e.customer_id,
                "service": e.service,
                "success": int(e.success),
                "failures": e.failures,
                "pause_after": pause_after,
                "success_at": None if e.last_success_at is None else to_epoch(e.last_success_at),
                "failure_at": None if e.last_failure_at is None else to_epoch(e.last_failure_at),
            }
            for e in batch.endpoints
        ],
    )


def release(
    conn: sqlite3.Connection, delivery_ids: Sequence[str], worker_id: str, now_s: float
) -> None:
    conn.executemany(_RELEASE, [(now_s, now_s, d, worker_id) for d in delivery_ids])
    _supersede_if_deleted(conn, [(now_s, d) for d in delivery_ids])


def _supersede_if_deleted(conn: sqlite3.Connection, rows: list[tuple[float, str]]) -> None:
    """(at, delivery_id): supersede each trip whose deletion has arrived, erase its payload."""
    if conn.executemany(_SUPERSEDE_IF_DELETED, rows).rowcount > 0:
        conn.executemany(_ERASE_IF_SUPERSEDED, [(d,) for _, d in rows])
