"""Recording outcomes and releasing leases on PostgreSQL. Each call is one transaction.

The same rules as the SQLite store: attempts are history and always kept; only the lease
holder moves a delivery on, except that a 200 is a 200 (a delivered outcome applies to any
delivery not final yet); a ``trip`` left to retry (or released) after its deletion arrived
becomes ``superseded`` with its payload erased. Statements go as pipelined ``executemany``,
in delivery-id order so that two transactions touching the same rows lock them in the same
order.

Recording also keeps each endpoint's health in the same transaction (see
``endpoint_figures``): the batch is summed in Python, then added to ``endpoint_minutes`` and
``endpoint_latency`` with ``ON CONFLICT DO UPDATE SET x = x + excluded.x`` and to
``endpoints`` with one UPDATE whose expressions read the row as it is, so concurrent
workers recording for the same endpoint add up instead of overwriting each other. These
hot rows come last and in key order: they are locked for as short a time as possible, and
always in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from telepush.domain.delivery import Outcome, Status
from telepush.store.endpoint_figures import breaker_sql, figures
from telepush.store.postgres_conn import Conn, aware
from telepush.store.postgres_ingest import DELETED_TRIP, TRIP

_INSERT_ATTEMPT = """
INSERT INTO attempts (delivery_seq, number, at, status_code, error, duration_ms, response,
                      detail)
SELECT seq, %s, %s, %s, %s, %s, %s, %s FROM deliveries WHERE delivery_id = %s
"""

_APPLY_OUTCOME = """
UPDATE deliveries
SET status = %(status)s, due_at = %(due_at)s, lease_owner = NULL, updated_at = %(at)s
WHERE delivery_id = %(delivery_id)s
  AND ((status = 'sending' AND lease_owner = %(worker_id)s)
       OR (%(status)s = 'delivered' AND status IN ('pending', 'sending')))
"""

_SUPERSEDE_IF_DELETED = f"""
WITH superseded AS (
  UPDATE deliveries AS d
  SET status = 'superseded', due_at = NULL, updated_at = %s
  WHERE d.delivery_id = %s AND d.service = '{TRIP}' AND d.status IN ('pending', 'failed')
    AND EXISTS (SELECT 1 FROM deliveries AS x
                WHERE x.customer_id = d.customer_id AND x.service = '{DELETED_TRIP}'
                  AND x.key = d.key)
  RETURNING seq
)
DELETE FROM payloads AS p USING superseded AS s WHERE p.seq = s.seq
"""

_ADD_MINUTE = """
INSERT INTO endpoint_minutes AS m (customer_id, service, minute, attempts, failures, delivered,
                                   failed, retried)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (customer_id, service, minute) DO UPDATE
SET attempts = m.attempts + excluded.attempts,
    failures = m.failures + excluded.failures,
    delivered = m.delivered + excluded.delivered,
    failed = m.failed + excluded.failed,
    retried = m.retried + excluded.retried
"""

_ADD_LATENCY = """
INSERT INTO endpoint_latency AS l (customer_id, service, minute, bucket, count)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (customer_id, service, minute, bucket) DO UPDATE
SET count = l.count + excluded.count
"""

_BREAKER = breaker_sql("%({})s")

# greatest() ignores NULLs: the latest known time is kept.
_UPDATE_ENDPOINT = f"""
UPDATE endpoints
SET consecutive_failures = {_BREAKER["consecutive_failures"]},
    paused = {_BREAKER["paused"]},
    paused_at = {_BREAKER["paused_at"]},
    probe_at = {_BREAKER["probe_at"]},
    last_success_at = greatest(last_success_at, %(success_at)s),
    last_failure_at = greatest(last_failure_at, %(failure_at)s)
WHERE customer_id = %(customer_id)s AND service = %(service)s
"""

_RELEASE = """
UPDATE deliveries
SET status = 'pending', due_at = %s, lease_owner = NULL, attempt_count = attempt_count - 1,
    updated_at = %s
WHERE delivery_id = %s AND status = 'sending' AND lease_owner = %s
"""


def check_outcomes(outcomes: Sequence[Outcome]) -> None:
    """``ValueError`` for naive times, before anything is written (``Outcome`` itself refuses
    an inconsistent status)."""
    for outcome in outcomes:
        aware(outcome.attempt.at)
        if outcome.next_attempt_at is not None:
            aware(outcome.next_attempt_at)


async def record(
    conn: Conn, outcomes: Sequence[Outcome], worker_id: str, pause_after: int = 0
) -> None:
    """Call inside a transaction, with outcomes that passed ``check_outcomes``.
    ``pause_after`` > 0 arms the circuit breaker."""
    ordered = sorted(outcomes, key=lambda o: o.delivery_id)  # stable: keeps repeats in order
    async with conn.cursor() as cur:
        await cur.executemany(
            _INSERT_ATTEMPT,
            [
                (
                    o.attempt.number,
                    o.attempt.at,
                    o.attempt.status_code,
                    None if o.attempt.error is None else str(o.attempt.error),
                    o.attempt.duration_ms,
                    o.attempt.response,
                    o.attempt.detail,
                    o.delivery_id,
                )
                for o in ordered
            ],
        )
        await cur.executemany(
            _APPLY_OUTCOME,
            [
                {
                    "status": str(o.status),
                    "due_at": o.next_attempt_at,
                    "at": o.attempt.at,
                    "delivery_id": o.delivery_id,
                    "worker_id": worker_id,
                }
                for o in ordered
            ],
        )
        retried = [(o.attempt.at, o.delivery_id) for o in ordered if o.status != Status.DELIVERED]
        if retried:
            await cur.executemany(_SUPERSEDE_IF_DELETED, retried)
        await _record_figures(cur, outcomes, pause_after)


async def _record_figures(
    cur: psycopg.AsyncCursor[Any], outcomes: Sequence[Outcome], pause_after: int
) -> None:
    batch = figures(outcomes)
    if batch.minutes:
        await cur.executemany(
            _ADD_MINUTE,
            [m.as_row() for m in batch.minutes],
        )
    if batch.latency:
        await cur.executemany(_ADD_LATENCY, batch.latency)
    if batch.endpoints:
        await cur.executemany(
            _UPDATE_ENDPOINT,
            [
                {
                    "customer_id": e.customer_id,
                    "service": e.service,
                    "success": e.success,
                    "failures": e.failures,
                    "pause_after": pause_after,
                    "success_at": e.last_success_at,
                    "failure_at": e.last_failure_at,
                }
                for e in batch.endpoints
            ],
        )


async def release(conn: Conn, delivery_ids: Sequence[str], worker_id: str, now: datetime) -> None:
    """Call inside a transaction."""
    ordered = sorted(delivery_ids)
    async with conn.cursor() as cur:
        await cur.executemany(_RELEASE, [(now, now, d, worker_id) for d in ordered])
        await cur.executemany(_SUPERSEDE_IF_DELETED, [(now, d) for d in ordered])
