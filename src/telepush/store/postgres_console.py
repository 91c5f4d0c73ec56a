"""The operator's console on PostgreSQL: endpoint health and pausing, bulk replay tasks,
retention. A part of ``PostgresStore`` kept apart by concept.
"""

from __future__ import annotations

from datetime import datetime

from telepush.domain.health import EndpointHealth, MinuteStats
from telepush.domain.retention import PurgeCutoffs, PurgeResult
from telepush.domain.tasks import Task
from telepush.store import postgres_endpoints, postgres_retention, postgres_tasks
from telepush.store.postgres_conn import Connections, aware
from telepush.store.purge_steps import purge_in_chunks


class PostgresConsole:
    """Console verbs of the ``Store`` protocol on PostgreSQL (a base of ``PostgresStore``)."""

    _db: Connections

    # ---- endpoint health and pausing (postgres_endpoints) ----------------------------------

    async def set_paused(self, customer_id: str, service: str, paused: bool, now: datetime) -> bool:
        aware(now)
        return await self._db.write(
            lambda conn: postgres_endpoints.set_paused(conn, customer_id, service, paused, now)
        )

    async def endpoint_health(
        self, *, now: datetime, since: datetime, customer_id: str | None = None
    ) -> list[EndpointHealth]:
        aware(now)
        aware(since)
        return await self._db.read(
            lambda conn: postgres_endpoints.endpoint_health(
                conn, now=now, since=since, customer_id=customer_id
            )
        )

    async def throughput(
        self, *, since: datetime, customer_id: str | None = None
    ) -> list[MinuteStats]:
        aware(since)
        return await self._db.read(
            lambda conn: postgres_endpoints.throughput(conn, since=since, customer_id=customer_id)
        )

    # ---- bulk replay tasks (postgres_tasks) ------------------------------------------------

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
        for at in (now, failed_from, failed_to):
            if at is not None:
                aware(at)
        return await self._db.write(
            lambda conn: postgres_tasks.start_retry_task(
                conn, task_id, customer_id, service, now, failed_from, failed_to
            )
        )

    async def advance_task(self, task_id: str, now: datetime, *, chunk: int = 500) -> Task:
        aware(now)
        return await self._db.write(
            lambda conn: postgres_tasks.advance_task(conn, task_id, now, chunk)
        )

    async def fail_task(self, task_id: str, error: str, now: datetime) -> None:
        aware(now)
        await self._db.write(lambda conn: postgres_tasks.fail_task(conn, task_id, error, now))

    async def get_task(self, task_id: str) -> Task | None:
        return await self._db.read(lambda conn: postgres_tasks.get_task(conn, task_id))

    async def list_tasks(self, *, limit: int = 50) -> list[Task]:
        return await self._db.read(lambda conn: postgres_tasks.list_tasks(conn, limit))

    async def stalled_tasks(self, updated_before: datetime) -> list[Task]:
        aware(updated_before)
        return await self._db.read(lambda conn: postgres_tasks.stalled_tasks(conn, updated_before))

    # ---- retention (postgres_retention) ----------------------------------------------------

    async def purge(self, cutoffs: PurgeCutoffs, *, chunk: int = 5000) -> PurgeResult:
        """One transaction per chunk: claims and ingest go on in between."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        for at in (
            cutoffs.delivered_before,
            cutoffs.failed_before,
            cutoffs.metadata_before,
            cutoffs.figures_before,
        ):
            aware(at)
        return await purge_in_chunks(self._db.write, postgres_retention, cutoffs, chunk)

    async def compact(self, *, full: bool = False) -> None:
        """``VACUUM (ANALYZE)`` the tables that held erased personal data or secrets
        (payloads, customers, OAuth2 tokens): dead rows are pruned and their space made
        reusable, not overwritten. ``full`` runs ``VACUUM FULL``, which rewrites them into
        new files but locks each table while it does. Neither reaches the WAL or backups;
        see ``postgres_retention`` and docs/postgres.md."""
        async with self._db.connection() as conn:
            await postgres_retention.vacuum(conn, full=full)
