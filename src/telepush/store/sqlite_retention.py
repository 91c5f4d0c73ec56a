"""Retention on SQLite: erase old payloads, remove old metadata and figures, then make the
erasure physical.

``purge`` walks the tables in ``seq`` order, one chunk per writer job (one transaction), so
claims and ingest interleave with it and each chunk reads a bounded number of rows: payloads
from the oldest, stopping at the first one created after the later payload cutoff (nothing
created since can have ended before it); deliveries likewise for metadata.

``compact`` needs no transaction and runs on a connection of its own: the store's connection
has ``secure_delete`` on, so deleted cells and freed pages are overwritten with zeros as they
are deleted; what is left are the old page images in the ``-wal`` file, which a ``TRUNCATE``
checkpoint copies back and then cuts off.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from telepush.domain.delivery import Status
from telepush.domain.retention import PurgeResult
from telepush.store.purge_steps import Step

log = logging.getLogger("telepush.store")

_FINAL = (Status.DELIVERED, Status.FAILED, Status.SUPERSEDED)


@dataclass(frozen=True)
class Cutoffs:
    """``PurgeCutoffs`` in the store's units: epoch seconds, and minutes for figures."""

    delivered_before: float
    failed_before: float
    metadata_before: float
    figures_before_minute: int


_PAYLOADS = """
SELECT p.seq, d.status, d.updated_at, d.created_at
FROM payloads AS p JOIN deliveries AS d ON d.seq = p.seq
WHERE p.seq > ? ORDER BY p.seq LIMIT ?
"""

_DELIVERIES = """
SELECT seq, status, updated_at, created_at FROM deliveries WHERE seq > ? ORDER BY seq LIMIT ?
"""


def erase_payloads(conn: sqlite3.Connection, cutoffs: Cutoffs, after: int, chunk: int) -> Step:
    """Erase the payloads of deliveries that ended delivered before ``delivered_before`` or
    failed before ``failed_before`` (and of any superseded one), among the next ``chunk``
    payloads after ``after``."""
    rows = conn.execute(_PAYLOADS, (after, chunk)).fetchall()
    stop_at = max(cutoffs.delivered_before, cutoffs.failed_before)
    doomed = [
        (seq,)
        for seq, status, updated_at, _ in rows
        if (status == Status.DELIVERED and updated_at < cutoffs.delivered_before)
        or (status == Status.FAILED and updated_at < cutoffs.failed_before)
        or status == Status.SUPERSEDED
    ]
    erased = conn.executemany("DELETE FROM payloads WHERE seq = ?", doomed).rowcount
    more = len(rows) == chunk and all(created_at < stop_at for *_, created_at in rows)
    return Step(PurgeResult(payloads_erased=max(0, erased)), rows[-1][0] if more else None)


def remove_deliveries(conn: sqlite3.Connection, cutoffs: Cutoffs, after: int, chunk: int) -> Step:
    """Remove, with their attempts (and payload, if any), the final deliveries that ended
    before ``metadata_before`` among the next ``chunk`` deliveries after ``after``."""
    rows = conn.execute(_DELIVERIES, (after, chunk)).fetchall()
    doomed = [
        (seq,)
        for seq, status, updated_at, _ in rows
        if status in _FINAL and updated_at < cutoffs.metadata_before
    ]
    conn.executemany("DELETE FROM attempts WHERE delivery_seq = ?", doomed)
    conn.executemany("DELETE FROM payloads WHERE seq = ?", doomed)
    removed = conn.executemany("DELETE FROM deliveries WHERE seq = ?", doomed).rowcount
    more = len(rows) == chunk and all(created < cutoffs.metadata_before for *_, created in rows)
    return Step(PurgeResult(deliveries_removed=max(0, removed)), rows[-1][0] if more else None)


def remove_figures(conn: sqlite3.Connection, cutoffs: Cutoffs, chunk: int) -> Step:
    """Remove up to ``chunk`` per-minute figures (and as many latency rows) of minutes
    before ``figures_before``; ``next_seq`` is 0 while there may be more."""
    minute = cutoffs.figures_before_minute
    removed = conn.execute(
        "DELETE FROM endpoint_minutes WHERE rowid IN"
        " (SELECT rowid FROM endpoint_minutes WHERE minute < ? LIMIT ?)",
        (minute, chunk),
    ).rowcount
    latency = conn.execute(
        "DELETE FROM endpoint_latency WHERE rowid IN"
        " (SELECT rowid FROM endpoint_latency WHERE minute < ? LIMIT ?)",
        (minute, chunk),
    ).rowcount
    more = removed == chunk or latency == chunk
    return Step(PurgeResult(minutes_removed=removed), 0 if more else None)


def remove_tasks(conn: sqlite3.Connection, cutoffs: Cutoffs) -> None:
    """Finished bulk replay tasks go with the metadata of their time."""
    conn.execute(
        "DELETE FROM tasks WHERE status <> 'running' AND finished_at < ?",
        (cutoffs.metadata_before,),
    )


def compact(path: Path, busy_timeout_ms: int, *, full: bool) -> None:
    """Checkpoint the WAL into the database file and truncate it to zero bytes; with
    ``full``, first rebuild the file with ``VACUUM``. Blocking: run it in a thread."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA secure_delete = ON")
        if full:
            conn.execute("VACUUM")
        busy = _checkpoint_truncate(conn, busy_timeout_ms)
        if busy:
            log.warning(
                "WAL checkpoint of %s incomplete: another connection is using the database; "
                "erased bytes may remain in its -wal file until the next compaction",
                path.name,
            )


def _checkpoint_truncate(conn: sqlite3.Connection, busy_timeout_ms: int) -> bool:
    """``wal_checkpoint(TRUNCATE)``, tried again while another connection (the store's
    checkpoint thread, say) is checkpointing; True if it never completed."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            busy = 1
        if not busy or time.monotonic() >= deadline:
            return bool(busy)
        time.sleep(0.02)
