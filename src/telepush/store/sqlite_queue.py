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

import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

from telepush.domain.delivery import EnqueueResult, NewDelivery, Outcome, Status
from telepush.errors import NotFound
from telepush.store.endpoint_figures import breaker_sql, figures
from telepush.store.sqlite_claim import DELETED_TRIP, TRIP
from telepush.store.sqlite_rows import to_epoch

# Enqueue writes many rows per statement (``VALUES (…), (…), …``) rather than one statement
# per row: less work per row in the sqlite3 module, and far fewer steps, around each of which
# the module releases the GIL and may then wait for it behind the event loop.
_INSERT_HEAD = """
INSERT INTO deliveries (delivery_id, customer_id, service, key, idempotency_key,
                        status, due_at, attempt_count, created_at, updated_at)
VALUES """
_INSERT_ROW = "(?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?)"
_INSERT_TAIL = """
ON CONFLICT (customer_id, service, idempotency_key) WHERE idempotency_key IS NOT NULL
DO NOTHING
"""
_INSERT_PAYLOAD_HEAD = "INSERT INTO payloads (seq, body) VALUES "
_INSERT_PAYLOAD_ROW = "(?, ?)"

# Rows per statement: 8 parameters a row stays under SQLite's historical limit of 999
# variables. Shorter tails are cut in powers of two, so a handful of statements (each
# cached by the sqlite3 module) serve every batch size.
_ROWS_PER_STATEMENT = 100

# seq only grows (AUTOINCREMENT) and the transaction holds the write lock: the rows above
# the highest seq before an insert are exactly the rows it wrote. They are read back as one
# row (one step) of "delivery_id seq" pairs.
_LAST_SEQ = "SELECT max(seq) FROM deliveries"
_CUSTOMER = "SELECT 1 FROM customers WHERE customer_id = ?"
_WRITTEN = "SELECT group_concat(delivery_id || ' ' || seq, ' ') FROM deliveries WHERE seq > ?"

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

# Outcomes are recorded with one statement per table for up to _RECORD_ROWS of them, the
# rows given as a VALUES list (padded to a power of two with NULL rows, which match no
# delivery, so a few statement shapes serve every batch): one sqlite3_step per statement
# rather than one per row, each step being a wait for the GIL behind the event loop.
_RECORD_ROWS = 64

_INSERT_ATTEMPTS = """
WITH v (delivery_id, number, at, status_code, error, duration_ms, response, detail) AS (
  VALUES {rows}
)
INSERT INTO attempts (delivery_seq, number, at, status_code, error, duration_ms, response,
                      detail)
SELECT d.seq, v.number, v.at, v.status_code, v.error, v.duration_ms, v.response, v.detail
FROM v JOIN deliveries AS d ON d.delivery_id = v.delivery_id
"""
_ATTEMPT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"

# Only the lease holder moves a delivery on, except that a 200 is a 200: a delivered outcome
# is applied whenever the delivery is not final yet.
_APPLY_OUTCOMES = """
WITH v (delivery_id, status, due_at, at) AS (VALUES {rows})
UPDATE deliveries
SET status = v.status, due_at = v.due_at, lease_owner = NULL, updated_at = v.at
FROM v
WHERE deliveries.delivery_id = v.delivery_id
  AND ((deliveries.status = 'sending' AND deliveries.lease_owner = ?)
       OR (v.status = 'delivered' AND deliveries.status IN ('pending', 'sending')))
"""
_OUTCOME_ROW = "(?, ?, ?, ?)"

# The same, one outcome at a time: for a batch holding two outcomes of one delivery, which
# must apply in order.
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
    """Insert ``items`` in order, as one call after another would, with a few statements
    per table; a duplicate reports its delivery's status as the whole batch leaves it.
    Items for a customer that does not exist (deleted by another process since the push was
    checked) are refused: ``NotFound``, nothing written."""
    for customer_id in {i.customer_id for i in items}:
        if conn.execute(_CUSTOMER, (customer_id,)).fetchone() is None:
            raise NotFound(f"no customer '{customer_id}'", field="customerId")
    created = [to_epoch(item.created_at) for item in items]
    rows = [
        (i.delivery_id, i.customer_id, i.service, i.key, i.idempotency_key, at, at, at)
        for i, at in zip(items, created, strict=True)
    ]
    written: dict[str, int]
    if len(rows) == 1:  # one push: its seq is the insert's rowid, no reading back
        cursor = conn.execute(_insert_sql(_INSERT_HEAD, _INSERT_ROW, _INSERT_TAIL, 1), rows[0])
        seq = cursor.lastrowid
        written = {rows[0][0]: seq} if cursor.rowcount == 1 and seq is not None else {}
    else:
        last_seq = conn.execute(_LAST_SEQ).fetchone()[0] or 0
        _insert_rows(conn, _INSERT_HEAD, _INSERT_ROW, _INSERT_TAIL, rows)
        pairs = (conn.execute(_WRITTEN, (last_seq,)).fetchone()[0] or "").split(" ")
        written = {pairs[n]: int(pairs[n + 1]) for n in range(0, len(pairs) - 1, 2)}
    _insert_rows(
        conn,
        _INSERT_PAYLOAD_HEAD,
        _INSERT_PAYLOAD_ROW,
        "",
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


def _insert_rows(
    conn: sqlite3.Connection, head: str, row: str, tail: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """``rows`` in order, up to ``_ROWS_PER_STATEMENT`` per ``INSERT``."""
    start = 0
    size = _ROWS_PER_STATEMENT
    while start < len(rows):
        while size > len(rows) - start:
            size //= 2
        chunk = rows[start : start + size]
        conn.execute(_insert_sql(head, row, tail, size), [v for r in chunk for v in r])
        start += size


@functools.cache
def _insert_sql(head: str, row: str, tail: str, size: int) -> str:
    return head + ", ".join([row] * size) + tail


def record(
    conn: sqlite3.Connection, outcomes: Sequence[Outcome], worker_id: str, pause_after: int = 0
) -> None:
    """Attempts are history: each is kept even when its worker has lost the lease, but only
    the lease holder (or a 200) moves the delivery to its next state. Endpoint health is
    updated from every outcome; ``pause_after`` > 0 arms the circuit breaker."""
    _each_chunk(
        conn,
        _INSERT_ATTEMPTS,
        _ATTEMPT_ROW,
        [
            (
                o.delivery_id,
                o.attempt.number,
                to_epoch(o.attempt.at),
                o.attempt.status_code,
                None if o.attempt.error is None else str(o.attempt.error),
                o.attempt.duration_ms,
                o.attempt.response,
                o.attempt.detail,
            )
            for o in outcomes
        ],
    )
    moves = [
        (
            o.delivery_id,
            str(o.status),
            None if o.next_attempt_at is None else to_epoch(o.next_attempt_at),
            to_epoch(o.attempt.at),
        )
        for o in outcomes
    ]
    if len({m[0] for m in moves}) == len(moves):
        _each_chunk(conn, _APPLY_OUTCOMES, _OUTCOME_ROW, moves, worker_id)
    else:
        conn.executemany(
            _APPLY_OUTCOME,
            [
                {"delivery_id": d, "status": st, "due_at": due, "at": at, "worker_id": worker_id}
                for d, st, due, at in moves
            ],
        )
    retried = [
        (to_epoch(o.attempt.at), o.delivery_id) for o in outcomes if o.status != Status.DELIVERED
    ]
    _supersede_if_deleted(conn, retried)
    _record_figures(conn, outcomes, pause_after)


def _each_chunk(
    conn: sqlite3.Connection,
    template: str,
    row: str,
    rows: Sequence[tuple[Any, ...]],
    *after: Any,
) -> None:
    """``template`` once per _RECORD_ROWS of ``rows``, padded; ``after`` binds what follows
    the VALUES list."""
    width = row.count("?")
    for start in range(0, len(rows), _RECORD_ROWS):
        chunk = rows[start : start + _RECORD_ROWS]
        size = 1 << (len(chunk) - 1).bit_length()
        params = [v for r in chunk for v in r]
        params += [None] * (width * (size - len(chunk)))
        conn.execute(_values_sql(template, row, size), [*params, *after])


@functools.cache
def _values_sql(template: str, row: str, size: int) -> str:
    return template.format(rows=", ".join([row] * size))


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
