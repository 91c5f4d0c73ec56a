"""The operator's console on SQLite: endpoint health and pausing, bulk replay tasks,
retention. A part of ``SQLiteStore`` kept apart by concept; every method runs on the store's
writer thread like the rest (reads with ``write=False``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from telepush.domain.health import EndpointHealth, MinuteStats
from telepush.domain.retention import PurgeCutoffs, PurgeResult
from telepush.domain.tasks import Task
from telepush.store import sqlite_endpoints, sqlite_retention, sqlite_tasks
from telepush.store.purge_steps import purge_in_chunks
from telepush.store.sqlite_rows import to_epoch
from telepush.store.sqlite_writer import SQLiteWriter


class SQLiteConsole:
    """Console verbs of the ``Store`` protocol on SQLite (a base of ``SQLiteStore``)."""

    path: Path
    _writer: SQLiteWriter
    _busy_timeout_ms: int

    # ---- endpoint health and pausing (sqlite_endpoints) ----------------------------------

    async def set_paused(self, customer_id: str, service: str, paused: bool, now: datetime) -> bool:
        now_s = to_epoch(now)
        return await self._writer.run(
            lambda conn: sqlite_endpoints.set_paused(conn, customer_id, service, paused, now_s)
        )

    async def endpoint_health(
        self, *, now: datetime, since: datetime, customer_id: str | None = None
    ) -> list[EndpointHealth]:
        now_s, since_s = to_epoch(now), to_epoch(since)
        return await self._writer.run(
            lambda conn: sqlite_endpoints.endpoint_health(
                conn, now_s=now_s, since_s=since_s, customer_id=customer_id
            ),
            write=False,
        )

    async def throughput(
        self, *, since: datetime, customer_id: str | None = None
    ) -> list[MinuteStats]:
        since_s = to_epoch(since)
        return await self._writer.run(
            lambda conn: sqlite_endpoints.throughput(
                conn, since_s=since_s, customer_id=customer_id
            ),
            write=False,
        )

    # ---- bulk replay tasks (sqlite_tasks) ------------------------------------------------

    async def start_retry_task(
        self,
        task_id: str,
        customer_id: str,
        service: str,
        now: datetime,
        *,
        failed_from: datetime | None = None,
        failed_to: datetime | None = None,
    ) -> Task:
        now_s = to_epoch(now)
        from_s = None if failed_from is None else to_epoch(failed_from)
        to_s = None if failed_to is None else to_epoch(failed_to)
        return await self._writer.run(
            lambda conn: sqlite_tasks.start_retry_task(
                conn, task_id, customer_id, service, now_s, from_s, to_s
            )
        )

    async def advance_task(self, task_id: str, now: datetime, *, chunk: int = 500) -> Task:
        now_s = to_epoch(now)
        return await self._writer.run(
            lambda conn: sqlite_tasks.advance_task(conn, task_id, now_s, chunk)
        )

    async def fail_task(self, task_id: str, error: str, now: datetime) -> None:
        now_s = to_epoch(now)
        await self._writer.run(lambda conn: sqlite_tasks.fail_task(conn, task_id, error, now_s))

    async def get_task(self, task_id: str) -> Task | None:
        return await self._writer.run(
            lambda conn: sqlite_tasks.get_task(conn, task_id), write=False
        )

    async def list_tasks(self, *, limit: int = 50) -> list[Task]:
        return await self._writer.run(
            lambda conn: sqlite_tasks.list_tasks(conn, limit), write=False
        )

    async def stalled_tasks(self, updated_before: datetime) -> list[Task]:
        before_s = to_epoch(updated_before)
        return await self._writer.run(
            lambda conn: sqlite_tasks.stalled_tasks(conn, before_s), write=False
        )

    # ---- retention (sqlite_retention) ----------------------------------------------------

    async def purge(self, cutoffs: PurgeCutoffs, *, chunk: int = 5000) -> PurgeResult:
        """One writer job (one transaction) per chunk: claims and ingest go on in between."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        c = sqlite_retention.Cutoffs(
            delivered_before=to_epoch(cutoffs.delivered_before),
            failed_before=to_epoch(cutoffs.failed_before),
            metadata_before=to_epoch(cutoffs.metadata_before),
            figures_before_minute=int(to_epoch(cutoffs.figures_before) // 60),
        )
        return await purge_in_chunks(self._writer.run, sqlite_retention, c, chunk)

    async def compact(self, *, full: bool = False) -> None:
        """Deleted content is already zeroed (``secure_delete``); this checkpoints the WAL
        into the database file and truncates it, so no erased page image is left in the
        ``-wal`` file. ``full`` first rebuilds the whole file with ``VACUUM`` (it takes the
        database's write lock for as long as the copy lasts)."""
        await asyncio.to_thread(
            sqlite_retention.compact, self.path, self._busy_timeout_ms, full=full
        )
