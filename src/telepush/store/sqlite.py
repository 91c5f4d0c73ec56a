"""The embedded store: one SQLite file in WAL mode, written by one thread with group commit.

Every method hands a job to the ``SQLiteWriter`` thread, which owns the only connection and
commits concurrent jobs together (one fsync for many callers); reads go through the same
thread, so a caller always sees its own writes. Another process (the ``telepush`` CLI, a
second server) may open the same file: writes take ``BEGIN IMMEDIATE`` and wait up to
``busy_timeout_ms`` for the lock.

Timestamps are stored as REAL seconds since the epoch; the API speaks aware UTC datetimes.
Customers' secret fields are encrypted with the ``SecretBox`` before they reach the thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from telepush.domain.customer import Customer, CustomerConfig
from telepush.domain.delivery import (
    Claimed,
    Delivery,
    EnqueueResult,
    NewDelivery,
    Outcome,
    Status,
    WorkerInfo,
)
from telepush.errors import ConfigError
from telepush.store import (
    sqlite_claim,
    sqlite_customers,
    sqlite_queue,
    sqlite_reads,
    sqlite_tokens,
    sqlite_workers,
)
from telepush.store.base import DeliveryFilter, Page
from telepush.store.secrets import SecretBox
from telepush.store.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from telepush.store.sqlite_console import SQLiteConsole
from telepush.store.sqlite_customers import CustomerRow
from telepush.store.sqlite_rows import from_epoch, to_epoch
from telepush.store.sqlite_schema import check, migrate, sqlite_migrations
from telepush.store.sqlite_writer import SQLiteWriter

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
PAGE_CACHE_KB = 65536  # the writer connection's page cache
PAGE_SIZE = 16384  # bytes, for new database files


class SQLiteStore(SQLiteConsole):
    """``Store`` on a SQLite file. ``synchronous="FULL"`` makes every commit durable."""

    records_in_claim = True

    def __init__(
        self,
        path: Path | str,
        secret_box: SecretBox,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        max_batch: int = 500,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ConfigError(
                f"SQLite synchronous mode must be one of {', '.join(SYNCHRONOUS_MODES)}, "
                f"not {synchronous!r}",
                field="synchronous",
            )
        self.path = Path(path)
        self.payload_file: str | None = str(self.path.absolute())
        self._box = secret_box
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._writer = SQLiteWriter(self._connect_writer, max_batch=max_batch, name=self.path.name)
        self._checkpointer = Checkpointer(self._connect, name=self.path.name)
        self._rotation = sqlite_claim.ClaimRotation()
        self._process = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def commit_count(self) -> int:
        """Write transactions this store has committed: concurrent jobs share one."""
        return self._writer.commit_count

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            # WAL checkpoints run on their own thread (sqlite_checkpoint); this one's only as
            # a backstop. A 64 MB page cache holds the indexes that inserts land in at random
            # (deliveries_by_key): 2 MB (the default) made each batch re-read them.
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
            conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KB}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            # A new file's page size (an existing one keeps its own): set before WAL mode,
            # which writes the header. 16 KB pages: fewer b-tree levels, splits and WAL
            # frames per batch of inserts (decision 0009).
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # erased payloads are overwritten
            # Statement journals and the temporary tables of RETURNING and ORDER BY in
            # memory, not in a file created and deleted per transaction: at the store API
            # that was most of a transaction's fixed cost (decision 0009).
            conn.execute("PRAGMA temp_store = MEMORY")
        except BaseException:
            conn.close()
            raise
        return conn

    # ---- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self._writer.start()
        self._checkpointer.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._checkpointer.stop)
        await self._writer.stop()

    async def refresh_statistics(self) -> None:
        return None  # the claim's plans do not depend on statistics here

    async def migrate(self) -> list[str]:
        todo = sqlite_migrations()
        return await self._writer.run(lambda conn: migrate(conn, todo))

    async def check_schema(self) -> None:
        todo = sqlite_migrations()
        await self._writer.run(lambda conn: check(conn, todo), write=False)

    # ---- customers -------------------------------------------------------------------

    async def put_customer(
        self, customer_id: str, config: CustomerConfig, now: datetime
    ) -> tuple[Customer, bool]:
        public = config.public()
        auth = config.with_secrets()["auth"]
        secret_fields = {name: value for name, value in auth.items() if name not in public["auth"]}
        config_json = json.dumps(public, separators=(",", ":"))
        secret = self._box.encrypt(json.dumps(secret_fields))
        endpoints = [(name, service.enabled) for name, service in config.services.items()]
        now_s = to_epoch(now)
        row, created = await self._writer.run(
            lambda conn: sqlite_customers.put_customer(
                conn, customer_id, config_json, secret, endpoints, now_s
            )
        )
        return self._customer(row, config), created

    async def get_customer(self, customer_id: str) -> Customer | None:
        row = await self._writer.run(
            lambda conn: sqlite_customers.get_customer(conn, customer_id), write=False
        )
        return None if row is None else self._customer(row)

    async def list_customers(self) -> list[Customer]:
        rows = await self._writer.run(sqlite_customers.list_customers, write=False)
        return [self._customer(row) for row in rows]

    async def delete_customer(self, customer_id: str, now: datetime) -> bool:
        now_s = to_epoch(now)
        return await self._writer.run(
            lambda conn: sqlite_customers.delete_customer(conn, customer_id, now_s)
        )

    def _customer(self, row: CustomerRow, config: CustomerConfig | None = None) -> Customer:
        if config is None:
            data = json.loads(row.config_json)
            data["auth"].update(json.loads(self._box.decrypt(row.secret)))
            config = CustomerConfig.model_validate(data)
        return Customer(
            customer_id=row.customer_id,
            config=config,
            revision=row.revision,
            created_at=from_epoch(row.created_at),
            updated_at=from_epoch(row.updated_at),
        )

    # ---- OAuth2 tokens shared by every process ------------------------------------------

    async def get_token(
        self, customer_id: str, revision: int, now: datetime
    ) -> tuple[str, datetime] | None:
        now_s = to_epoch(now)
        found = await self._writer.run(
            lambda conn: sqlite_tokens.get_token(conn, customer_id, revision, now_s),
            write=False,
        )
        if found is None:
            return None
        ciphertext, expires_s = found
        return self._box.decrypt(ciphertext), from_epoch(expires_s)

    async def put_token(
        self,
        customer_id: str,
        revision: int,
        token: str,
        expires_at: datetime,
        *,
        fetched_by: str | None = None,
    ) -> None:
        expires_s = to_epoch(expires_at)
        ciphertext = self._box.encrypt(token)
        by = fetched_by or self._process
        await self._writer.run(
            lambda conn: sqlite_tokens.put_token(
                conn, customer_id, revision, ciphertext, expires_s, by
            )
        )

    async def drop_token(self, customer_id: str, revision: int, token: str) -> None:
        def drop(conn: sqlite3.Connection) -> None:
            for ciphertext in sqlite_tokens.token_ciphertexts(conn, customer_id, revision):
                if self._box.decrypt(ciphertext) == token:
                    sqlite_tokens.drop_token(conn, customer_id, revision, ciphertext)

        await self._writer.run(drop)

    # ---- worker heartbeats -------------------------------------------------------------

    async def heartbeat(
        self, worker_id: str, now: datetime, *, host: str, pid: int, in_flight: int
    ) -> None:
        now_s = to_epoch(now)
        await self._writer.run(
            lambda conn: sqlite_workers.heartbeat(conn, worker_id, now_s, host, pid, in_flight)
        )

    async def forget_worker(self, worker_id: str) -> None:
        await self._writer.run(lambda conn: sqlite_workers.forget(conn, worker_id))

    async def list_workers(self) -> list[WorkerInfo]:
        return await self._writer.run(sqlite_workers.list_workers, write=False)

    # ---- ingest and work ---------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewDelivery]) -> list[EnqueueResult]:
        if not items:
            return []
        batch = list(items)
        return await self._writer.run(lambda conn: sqlite_queue.enqueue(conn, batch))

    async def claim(
        self,
        *,
        now: datetime,
        worker_id: str,
        lease_s: float,
        per_endpoint_limit: int,
        limit: int,
        probe_interval_s: float = 30.0,
        finished: Sequence[str] = (),
        record: Sequence[Outcome] = (),
        pause_after: int = 0,
        prefetch: int = 0,
        inline_payload_max: int | None = None,
    ) -> list[Claimed]:
        now_s = to_epoch(now)
        done = list(finished)
        outcomes = list(record)

        def record_and_claim(conn: sqlite3.Connection) -> list[Claimed]:
            # one job, so one transaction: fewer statements, commits and hand-overs to the
            # writer thread than a record and a claim apart
            if outcomes:
                sqlite_queue.record(conn, outcomes, worker_id, pause_after)
            return sqlite_claim.claim(
                conn,
                self._rotation,
                now_s=now_s,
                worker_id=worker_id,
                lease_s=lease_s,
                per_endpoint_limit=per_endpoint_limit,
                limit=limit,
                probe_interval_s=probe_interval_s,
                finished=done,
                prefetch=prefetch,
                inline_payload_max=inline_payload_max,
            )

        return await self._writer.run(record_and_claim)

    async def record(
        self, outcomes: Sequence[Outcome], *, worker_id: str, pause_after: int = 0
    ) -> None:
        if not outcomes:
            return
        batch = list(outcomes)
        await self._writer.run(
            lambda conn: sqlite_queue.record(conn, batch, worker_id, pause_after)
        )

    async def release(self, delivery_ids: Sequence[str], *, worker_id: str, now: datetime) -> None:
        if not delivery_ids:
            return
        ids, now_s = list(delivery_ids), to_epoch(now)
        await self._writer.run(lambda conn: sqlite_queue.release(conn, ids, worker_id, now_s))

    async def next_due_at(self) -> datetime | None:
        due_s = await self._writer.run(sqlite_claim.next_due_at, write=False)
        return None if due_s is None else from_epoch(due_s)

    # ---- read back and replay ----------------------------------------------------------

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return await self._writer.run(
            lambda conn: sqlite_reads.get_delivery(conn, delivery_id), write=False
        )

    async def list_deliveries(
        self, filt: DeliveryFilter, *, limit: int, cursor: str | None
    ) -> Page:
        return await self._writer.run(
            lambda conn: sqlite_reads.list_deliveries(conn, filt, limit, cursor), write=False
        )

    async def retry_delivery(self, delivery_id: str, now: datetime) -> Delivery:
        now_s = to_epoch(now)
        return await self._writer.run(
            lambda conn: sqlite_reads.retry_delivery(conn, delivery_id, now_s)
        )

    async def count_by_status(self) -> dict[Status, int]:
        return await self._writer.run(sqlite_reads.count_by_status, write=False)
