"""Bulk replay tasks on SQLite: re-queue an endpoint's failed deliveries, chunk by chunk.

Runs on the writer thread; each function is one job, so one chunk is one transaction (the
writer takes the write lock with ``BEGIN IMMEDIATE``: nothing changes between the check and
the change). A task's items are the endpoint's ``failed`` deliveries with ``seq <= max_seq``
(the newest one when the task started) that still have their payload and, in the time-window
form, ended failed within [failed_from, failed_to). A trip whose ``deleted-trip`` has arrived
is never put back in the queue (deletion wins).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from telepush.domain.tasks import RETRY_FAILED, Task, TaskStatus
from telepush.errors import Conflict, InvalidInput, NotFound
from telepush.store.console_rows import running_conflict, task_from_row
from telepush.store.sqlite_claim import DELETED_TRIP, TRIP
from telepush.store.sqlite_rows import from_epoch

# The columns ``task_from_row`` reads, in its order.
TASK_COLUMNS = (
    "task_id, kind, customer_id, service, status, nb_items, nb_done, nb_skipped, created_at, "
    "updated_at, finished_at, failed_from, failed_to, error"
)

# What a task may re-queue; named parameters :customer_id, :service, :after_seq, :max_seq,
# :failed_from, :failed_to (NULL: no bound).
_ITEMS = f"""
FROM deliveries AS d
WHERE d.customer_id = :customer_id AND d.service = :service AND d.status = 'failed'
  AND d.seq > :after_seq AND d.seq <= :max_seq
  AND (:failed_from IS NULL OR d.updated_at >= :failed_from)
  AND (:failed_to IS NULL OR d.updated_at < :failed_to)
  AND EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)
  AND NOT (d.service = '{TRIP}' AND EXISTS (
    SELECT 1 FROM deliveries AS x
    WHERE x.customer_id = d.customer_id AND x.service = '{DELETED_TRIP}' AND x.key = d.key))
"""

_COUNT = f"SELECT count(*), coalesce(max(d.seq), 0) {_ITEMS}"
_CHUNK = f"SELECT d.seq {_ITEMS} ORDER BY d.seq LIMIT :chunk"

_RUNNING = """
SELECT task_id FROM tasks WHERE customer_id = ? AND service = ? AND status = 'running'
"""

_INSERT = """
INSERT INTO tasks (task_id, kind, customer_id, service, failed_from, failed_to, status,
                   nb_items, max_seq, created_at, updated_at, finished_at)
VALUES (:task_id, :kind, :customer_id, :service, :failed_from, :failed_to, :status,
        :nb_items, :max_seq, :now, :now, :finished_at)
"""

_REQUEUE = """
UPDATE deliveries
SET status = 'pending', due_at = ?, lease_owner = NULL, manual = 1, updated_at = ?
WHERE seq = ? AND status = 'failed'
"""

_PROGRESS = """
UPDATE tasks
SET nb_done = ?, after_seq = ?, updated_at = ?, status = ?, finished_at = ?, nb_skipped = ?
WHERE task_id = ?
"""

_FAIL = """
UPDATE tasks SET status = 'failed', error = ?, updated_at = ?, finished_at = ?
WHERE task_id = ? AND status = 'running'
"""


def start_retry_task(
    conn: sqlite3.Connection,
    task_id: str,
    customer_id: str,
    service: str,
    now_s: float,
    failed_from_s: float | None,
    failed_to_s: float | None,
) -> Task:
    running = conn.execute(_RUNNING, (customer_id, service)).fetchone()
    if running is not None:
        raise running_conflict(running[0], customer_id, service)
    window = {
        "customer_id": customer_id,
        "service": service,
        "failed_from": failed_from_s,
        "failed_to": failed_to_s,
    }
    nb_items, max_seq = conn.execute(
        _COUNT, {**window, "after_seq": 0, "max_seq": 2**63 - 1}
    ).fetchone()
    empty = nb_items == 0
    try:
        conn.execute(
            _INSERT,
            {
                **window,
                "task_id": task_id,
                "kind": RETRY_FAILED,
                "status": str(TaskStatus.DONE if empty else TaskStatus.RUNNING),
                "nb_items": nb_items,
                "max_seq": max_seq,
                "now": now_s,
                "finished_at": now_s if empty else None,
            },
        )
    except sqlite3.IntegrityError:  # another process started one meanwhile (or same id)
        running = conn.execute(_RUNNING, (customer_id, service)).fetchone()
        if running is None:
            raise Conflict(f"a task '{task_id}' already exists") from None
        raise running_conflict(running[0], customer_id, service) from None
    return _get(conn, task_id)


def advance_task(conn: sqlite3.Connection, task_id: str, now_s: float, chunk: int) -> Task:
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    row = conn.execute(
        "SELECT customer_id, service, failed_from, failed_to, status, nb_items, nb_done,"
        " max_seq, after_seq FROM tasks WHERE task_id = ?",
        (task_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no task '{task_id}'", field="taskId")
    customer_id, service, failed_from, failed_to, status, nb_items, nb_done, max_seq, after = row
    if status != TaskStatus.RUNNING:
        return _get(conn, task_id)
    seqs = [
        seq
        for (seq,) in conn.execute(
            _CHUNK,
            {
                "customer_id": customer_id,
                "service": service,
                "failed_from": failed_from,
                "failed_to": failed_to,
                "after_seq": after,
                "max_seq": max_seq,
                "chunk": chunk,
            },
        )
    ]
    requeued = conn.executemany(_REQUEUE, [(now_s, now_s, seq) for seq in seqs]).rowcount
    nb_done += max(0, requeued)
    finished = len(seqs) < chunk
    conn.execute(
        _PROGRESS,
        (
            nb_done,
            seqs[-1] if seqs else after,
            now_s,
            str(TaskStatus.DONE if finished else TaskStatus.RUNNING),
            now_s if finished else None,
            max(0, nb_items - nb_done) if finished else 0,
            task_id,
        ),
    )
    return _get(conn, task_id)


def fail_task(conn: sqlite3.Connection, task_id: str, error: str, now_s: float) -> None:
    conn.execute(_FAIL, (error, now_s, now_s, task_id))


def get_task(conn: sqlite3.Connection, task_id: str) -> Task | None:
    row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else task_from_row(row, _time)


def list_tasks(conn: sqlite3.Connection, limit: int) -> list[Task]:
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    rows = conn.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (limit,),
    )
    return [task_from_row(row, _time) for row in rows]


def stalled_tasks(conn: sqlite3.Connection, updated_before_s: float) -> list[Task]:
    rows = conn.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'running' AND updated_at < ?"
        " ORDER BY updated_at, task_id",
        (updated_before_s,),
    )
    return [task_from_row(row, _time) for row in rows]


def _get(conn: sqlite3.Connection, task_id: str) -> Task:
    task = get_task(conn, task_id)
    assert task is not None
    return task


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else from_epoch(seconds)
