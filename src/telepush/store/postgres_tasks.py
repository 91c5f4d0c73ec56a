"""Bulk replay tasks on PostgreSQL: re-queue an endpoint's failed deliveries, chunk by chunk.

Each function runs inside one transaction (the store's ``write``), so one chunk is one
transaction. A task's items are the endpoint's ``failed`` deliveries with ``seq <= max_seq``
(the newest one when the task started) that still have their payload and, in the time-window
form, ended failed within [failed_from, failed_to). A trip whose ``deleted-trip`` has arrived
is never put back in the queue (deletion wins).

Concurrency: the unique index ``tasks_one_running`` lets one task run per endpoint, whatever
the process that starts it. A chunk locks its task row (two processes advancing the same task
take turns) and then its deliveries, and checks each one's payload again once it holds the
lock, by a later statement and so on a fresh snapshot: a purge that erased a payload
meanwhile (it locks the delivery too) is seen, and that delivery is left failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from telepush.domain.tasks import RETRY_FAILED, Task, TaskStatus
from telepush.errors import Conflict, InvalidInput, NotFound
from telepush.store.console_rows import running_conflict, task_from_row
from telepush.store.postgres_conn import Conn
from telepush.store.postgres_ingest import DELETED_TRIP, TRIP

# The columns ``task_from_row`` reads, in its order.
TASK_COLUMNS = (
    "task_id, kind, customer_id, service, status, nb_items, nb_done, nb_skipped, created_at, "
    "updated_at, finished_at, failed_from, failed_to, error"
)

_ITEMS = f"""
FROM deliveries AS d
WHERE d.customer_id = %(customer_id)s AND d.service = %(service)s AND d.status = 'failed'
  AND d.seq > %(after_seq)s AND d.seq <= %(max_seq)s
  AND (%(failed_from)s::timestamptz IS NULL OR d.updated_at >= %(failed_from)s)
  AND (%(failed_to)s::timestamptz IS NULL OR d.updated_at < %(failed_to)s)
  AND EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)
  AND NOT (d.service = '{TRIP}' AND EXISTS (
    SELECT 1 FROM deliveries AS x
    WHERE x.customer_id = d.customer_id AND x.service = '{DELETED_TRIP}' AND x.key = d.key))
"""

_COUNT = f"SELECT count(*), coalesce(max(d.seq), 0) {_ITEMS}"
_CHUNK = f"SELECT d.seq {_ITEMS} ORDER BY d.seq LIMIT %(chunk)s FOR UPDATE OF d"

_RUNNING = """
SELECT task_id FROM tasks WHERE customer_id = %s AND service = %s AND status = 'running'
"""

_INSERT = """
INSERT INTO tasks (task_id, kind, customer_id, service, failed_from, failed_to, status,
                   nb_items, max_seq, created_at, updated_at, finished_at)
VALUES (%(task_id)s, %(kind)s, %(customer_id)s, %(service)s, %(failed_from)s, %(failed_to)s,
        %(status)s, %(nb_items)s, %(max_seq)s, %(now)s, %(now)s, %(finished_at)s)
"""

# Rows locked by _CHUNK: still failed, and (fresh snapshot) still with their payload.
_REQUEUE = """
UPDATE deliveries AS d
SET status = 'pending', due_at = %(now)s, lease_owner = NULL, manual = true,
    updated_at = %(now)s
WHERE d.seq = ANY(%(seqs)s) AND d.status = 'failed'
  AND EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)
"""

_PROGRESS = """
UPDATE tasks
SET nb_done = %s, after_seq = %s, updated_at = %s, status = %s, finished_at = %s,
    nb_skipped = %s
WHERE task_id = %s
"""

_FAIL = """
UPDATE tasks SET status = 'failed', error = %s, updated_at = %s, finished_at = %s
WHERE task_id = %s AND status = 'running'
"""


async def start_retry_task(
    conn: Conn,
    task_id: str,
    customer_id: str,
    service: str,
    now: datetime,
    failed_from: datetime | None,
    failed_to: datetime | None,
) -> Task:
    """Call inside a transaction."""
    await _refuse_if_running(conn, customer_id, service)
    window = {
        "customer_id": customer_id,
        "service": service,
        "failed_from": failed_from,
        "failed_to": failed_to,
    }
    cur = await conn.execute(_COUNT, {**window, "after_seq": 0, "max_seq": 2**63 - 1})
    nb_items, max_seq = _one(await cur.fetchone())
    empty = nb_items == 0
    try:
        async with conn.transaction():  # a savepoint: the clash is caught, not fatal
            await conn.execute(
                _INSERT,
                {
                    **window,
                    "task_id": task_id,
                    "kind": RETRY_FAILED,
                    "status": str(TaskStatus.DONE if empty else TaskStatus.RUNNING),
                    "nb_items": nb_items,
                    "max_seq": max_seq,
                    "now": now,
                    "finished_at": now if empty else None,
                },
            )
    except psycopg.errors.UniqueViolation:  # another process started one meanwhile
        await _refuse_if_running(conn, customer_id, service)
        raise Conflict(f"a task '{task_id}' already exists") from None
    return await _get(conn, task_id)


async def advance_task(conn: Conn, task_id: str, now: datetime, chunk: int) -> Task:
    """Call inside a transaction."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    cur = await conn.execute(
        "SELECT customer_id, service, failed_from, failed_to, status, nb_items, nb_done,"
        " max_seq, after_seq FROM tasks WHERE task_id = %s FOR UPDATE",
        (task_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no task '{task_id}'", field="taskId")
    customer_id, service, failed_from, failed_to, status, nb_items, nb_done, max_seq, after = row
    if status != TaskStatus.RUNNING:
        return await _get(conn, task_id)
    cur = await conn.execute(
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
    seqs = sorted(seq for (seq,) in await cur.fetchall())
    if seqs:
        cur = await conn.execute(_REQUEUE, {"now": now, "seqs": seqs})
        nb_done += cur.rowcount
    finished = len(seqs) < chunk
    await conn.execute(
        _PROGRESS,
        (
            nb_done,
            seqs[-1] if seqs else after,
            now,
            str(TaskStatus.DONE if finished else TaskStatus.RUNNING),
            now if finished else None,
            max(0, nb_items - nb_done) if finished else 0,
            task_id,
        ),
    )
    return await _get(conn, task_id)


async def fail_task(conn: Conn, task_id: str, error: str, now: datetime) -> None:
    await conn.execute(_FAIL, (error, now, now, task_id))


async def get_task(conn: Conn, task_id: str) -> Task | None:
    cur = await conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = %s", (task_id,))
    row = await cur.fetchone()
    return None if row is None else task_from_row(row, _same)


async def list_tasks(conn: Conn, limit: int) -> list[Task]:
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    cur = await conn.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks ORDER BY created_at DESC, task_id DESC LIMIT %s",
        (limit,),
    )
    return [task_from_row(row, _same) for row in await cur.fetchall()]


async def stalled_tasks(conn: Conn, updated_before: datetime) -> list[Task]:
    cur = await conn.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'running' AND updated_at < %s"
        " ORDER BY updated_at, task_id",
        (updated_before,),
    )
    return [task_from_row(row, _same) for row in await cur.fetchall()]


async def _refuse_if_running(conn: Conn, customer_id: str, service: str) -> None:
    cur = await conn.execute(_RUNNING, (customer_id, service))
    running = await cur.fetchone()
    if running is not None:
        raise running_conflict(running[0], customer_id, service)


async def _get(conn: Conn, task_id: str) -> Task:
    task = await get_task(conn, task_id)
    assert task is not None
    return task


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if row is None:
        raise AssertionError("the statement returns one row")
    return row


def _same(value: datetime | None) -> datetime | None:
    return value
