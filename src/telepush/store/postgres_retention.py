"""Retention on PostgreSQL: erase old payloads, remove old metadata and figures, vacuum.

``purge`` walks the tables in ``seq`` order, one chunk per transaction, so claims and ingest
of every process go on in between and each chunk reads a bounded number of rows: payloads
from the oldest, stopping at the first one created after the later payload cutoff (nothing
created since can have ended before it); deliveries likewise for metadata. A chunk locks the
deliveries it erases or removes (``FOR UPDATE SKIP LOCKED``): a replay that holds one goes
first and the delivery is left for the next purge; a replay that comes after sees the
payload gone (see ``postgres_tasks``). Payload rows another transaction is deleting (a
customer's deletion) are skipped as well: the purge does not wait for them.

What VACUUM does for the bytes on disk — read this before promising erasure:

- ``DELETE`` only marks rows dead; their bytes stay in the table's pages until VACUUM.
- ``VACUUM`` (``compact()``) prunes the dead rows of ``payloads`` (and of its TOAST table,
  where large bodies live), ``customers`` and ``oauth_tokens`` and marks their space free for
  reuse. It does not overwrite that space: the bytes can stay in the data files until new
  rows reuse it.
- ``VACUUM FULL`` (``compact(full=True)``) rewrites those tables into new files and deletes
  the old ones. It holds an ``ACCESS EXCLUSIVE`` lock on each table while it copies it: no
  claim or ingest gets through meanwhile. The old files are unlinked, not overwritten, so
  their blocks stay on the storage device until the file system reuses them.
- Neither touches the write-ahead log (``pg_wal``, WAL archives, replicas) nor backups, which
  hold payloads for as long as they are kept. Keep those no longer than the retention
  periods and put the database on encrypted storage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telepush.domain.retention import PurgeCutoffs, PurgeResult
from telepush.store.postgres_conn import Conn
from telepush.store.purge_steps import Step

_ERASE_PAYLOADS = """
WITH scanned AS (
  SELECT p.seq FROM payloads AS p WHERE p.seq > %(after)s ORDER BY p.seq LIMIT %(chunk)s
), doomed AS (
  SELECT d.seq FROM deliveries AS d JOIN scanned AS s ON s.seq = d.seq
  WHERE (d.status = 'delivered' AND d.updated_at < %(delivered_before)s)
     OR (d.status = 'failed' AND d.updated_at < %(failed_before)s)
     OR d.status = 'superseded'
  FOR UPDATE OF d SKIP LOCKED
), free AS (
  SELECT p.seq FROM payloads AS p JOIN doomed ON doomed.seq = p.seq
  FOR UPDATE OF p SKIP LOCKED
), erased AS (
  DELETE FROM payloads AS p USING free WHERE p.seq = free.seq RETURNING p.seq
)
SELECT (SELECT count(*) FROM erased), (SELECT count(*) FROM scanned),
       (SELECT max(seq) FROM scanned),
       (SELECT coalesce(bool_and(d.created_at < %(stop)s), true)
        FROM deliveries AS d JOIN scanned AS s ON s.seq = d.seq)
"""

# Attempts and payloads go with their delivery (ON DELETE CASCADE).
_REMOVE_DELIVERIES = """
WITH scanned AS (
  SELECT seq, created_at FROM deliveries WHERE seq > %(after)s ORDER BY seq LIMIT %(chunk)s
), doomed AS (
  SELECT d.seq FROM deliveries AS d JOIN scanned AS s ON s.seq = d.seq
  WHERE d.status IN ('delivered', 'failed', 'superseded')
    AND d.updated_at < %(metadata_before)s
  FOR UPDATE OF d SKIP LOCKED
), removed AS (
  DELETE FROM deliveries AS d USING doomed WHERE d.seq = doomed.seq RETURNING d.seq
)
SELECT (SELECT count(*) FROM removed), (SELECT count(*) FROM scanned),
       (SELECT max(seq) FROM scanned),
       (SELECT coalesce(bool_and(created_at < %(metadata_before)s), true) FROM scanned)
"""

_REMOVE_MINUTES = """
WITH gone AS (
  DELETE FROM endpoint_minutes
  WHERE (customer_id, service, minute) IN (
    SELECT customer_id, service, minute FROM endpoint_minutes WHERE minute < %(minute)s
    LIMIT %(chunk)s)
  RETURNING 1
)
SELECT count(*) FROM gone
"""

_REMOVE_LATENCY = """
WITH gone AS (
  DELETE FROM endpoint_latency
  WHERE (customer_id, service, minute, bucket) IN (
    SELECT customer_id, service, minute, bucket FROM endpoint_latency
    WHERE minute < %(minute)s LIMIT %(chunk)s)
  RETURNING 1
)
SELECT count(*) FROM gone
"""

# The tables whose dead rows held personal data or secrets.
_SENSITIVE_TABLES = "payloads, customers, oauth_tokens"


def figures_minute(at: datetime) -> int:
    """The ``minute`` column's value for ``at``: epoch seconds // 60."""
    return int(at.timestamp() // 60)


async def erase_payloads(conn: Conn, cutoffs: PurgeCutoffs, after: int, chunk: int) -> Step:
    """Erase the payloads of deliveries that ended delivered before ``delivered_before`` or
    failed before ``failed_before`` (and of any superseded one), among the next ``chunk``
    payloads after ``after``. Call inside a transaction."""
    cur = await conn.execute(
        _ERASE_PAYLOADS,
        {
            "after": after,
            "chunk": chunk,
            "delivered_before": cutoffs.delivered_before,
            "failed_before": cutoffs.failed_before,
            "stop": max(cutoffs.delivered_before, cutoffs.failed_before),
        },
    )
    erased, scanned, last, all_older = _one(await cur.fetchone())
    more = scanned == chunk and all_older
    return Step(PurgeResult(payloads_erased=erased), last if more else None)


async def remove_deliveries(conn: Conn, cutoffs: PurgeCutoffs, after: int, chunk: int) -> Step:
    """Remove, with their attempts (and payload, if any), the final deliveries that ended
    before ``metadata_before`` among the next ``chunk`` deliveries after ``after``. Call
    inside a transaction."""
    cur = await conn.execute(
        _REMOVE_DELIVERIES,
        {"after": after, "chunk": chunk, "metadata_before": cutoffs.metadata_before},
    )
    removed, scanned, last, all_older = _one(await cur.fetchone())
    more = scanned == chunk and all_older
    return Step(PurgeResult(deliveries_removed=removed), last if more else None)


async def remove_figures(conn: Conn, cutoffs: PurgeCutoffs, chunk: int) -> Step:
    """Remove up to ``chunk`` per-minute figures (and as many latency rows) of minutes
    before ``figures_before``; ``next_seq`` is 0 while there may be more."""
    args = {"minute": figures_minute(cutoffs.figures_before), "chunk": chunk}
    cur = await conn.execute(_REMOVE_MINUTES, args)
    (removed,) = _one(await cur.fetchone())
    cur = await conn.execute(_REMOVE_LATENCY, args)
    (latency,) = _one(await cur.fetchone())
    more = removed == chunk or latency == chunk
    return Step(PurgeResult(minutes_removed=removed), 0 if more else None)


async def remove_tasks(conn: Conn, cutoffs: PurgeCutoffs) -> None:
    """Finished bulk replay tasks go with the metadata of their time."""
    await conn.execute(
        "DELETE FROM tasks WHERE status <> 'running' AND finished_at < %s",
        (cutoffs.metadata_before,),
    )


async def vacuum(conn: Conn, *, full: bool) -> None:
    """``VACUUM`` the tables that held erased personal data; ``conn`` must be outside any
    transaction (autocommit)."""
    options = "FULL, ANALYZE" if full else "ANALYZE"
    await conn.execute(f"VACUUM ({options}) {_SENSITIVE_TABLES}")


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if row is None:
        raise AssertionError("the statement returns one row")
    return row
