"""The scale-out store: PostgreSQL through psycopg 3 (async) and a ``psycopg_pool`` pool.

Any number of telepush processes share one database. Ingest uses group commit (concurrent
``enqueue`` calls share a transaction, see ``postgres_ingest``); claims lease work with
per-endpoint advisory locks and ``FOR UPDATE SKIP LOCKED`` so that per-endpoint limits hold
across every process (``postgres_claim``); everything else is one short transaction per
call. Every database failure surfaces as ``StoreError``; the pool replaces dead connections
by itself, so the store works again as soon as the server is back.

Times are ``timestamptz`` (sessions run in UTC) and payloads ``bytea``. Customers' secret
fields and OAuth2 tokens are encrypted with the ``SecretBox`` before they leave the process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from datetime import datetime

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
from telepush.store import (
    postgres_claim,
    postgres_customers,
    postgres_ingest,
    postgres_queue,
    postgres_reads,
    postgres_schema,
    postgres_workers,
)
from telepush.store.base import DeliveryFilter, Page
from telepush.store.postgres_conn import Conn, Connections, aware
from telepush.store.postgres_console import PostgresConsole
from telepush.store.postgres_customers import CustomerRow
from telepush.store.secrets import SecretBox

log = logging.getLogger("telepush.store")


class PostgresStore(PostgresConsole):
    """``Store`` on a PostgreSQL database named by ``url`` (``postgresql://...``)."""

    records_in_claim = False
    payload_file: str | None = None

    def __init__(
        self,
        url: str,
        secret_box: SecretBox,
        *,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        max_batch: int = 1000,
        linger_s: float = 0.0005,
    ) -> None:
        self._box = secret_box
        self._db = Connections(
            url,
            min_size=min_size,
            max_size=max_size,
            acquire_timeout_s=acquire_timeout_s,
            connect_timeout_s=connect_timeout_s,
            name="telepush",
        )
        self._ingest = postgres_ingest.GroupCommit(
            self._enqueue_group, max_items=max_batch, linger_s=linger_s
        )
        self._rotation = postgres_claim.ClaimRotation()
        self._process = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def commit_count(self) -> int:
        """Ingest transactions this store has committed: concurrent enqueues share one."""
        return self._ingest.commit_count

    # ---- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self._db.open()
        self._ingest.start()

    async def close(self) -> None:
        await self._ingest.stop()
        await self._db.close()

    async def refresh_statistics(self) -> None:
        await self._db.write(postgres_claim.analyze_queue)

    async def migrate(self) -> list[str]:
        known = postgres_schema.postgres_migrations()
        return await self._db.write(lambda conn: postgres_schema.migrate(conn, known))

    async def check_schema(self) -> None:
        known = postgres_schema.postgres_migrations()
        await self._db.read(lambda conn: postgres_schema.check(conn, known))

    # ---- customers -------------------------------------------------------------------

    async def put_customer(
        self, customer_id: str, config: CustomerConfig, now: datetime
    ) -> tuple[Customer, bool]:
        aware(now)
        public = config.public()
        auth = config.with_secrets()["auth"]
        secret_fields = {name: value for name, value in auth.items() if name not in public["auth"]}
        secret = self._box.encrypt(json.dumps(secret_fields))
        endpoints = [(name, service.enabled) for name, service in config.services.items()]
        row, created = await self._db.write(
            lambda conn: postgres_customers.put_customer(
                conn, customer_id, public, secret, endpoints, now
            )
        )
        return self._customer(row, config), created

    async def get_customer(self, customer_id: str) -> Customer | None:
        row = await self._db.read(lambda conn: postgres_customers.get_customer(conn, customer_id))
        return None if row is None else self._customer(row)

    async def list_customers(self) -> list[Customer]:
        rows = await self._db.read(postgres_customers.list_customers)
        return [self._customer(row) for row in rows]

    async def delete_customer(self, customer_id: str, now: datetime) -> bool:
        aware(now)
        return await self._db.write(
            lambda conn: postgres_customers.delete_customer(conn, customer_id, now)
        )

    def _customer(self, row: CustomerRow, config: CustomerConfig | None = None) -> Customer:
        if config is None:
            data = dict(row.config)
            data["auth"] = {**data["auth"], **json.loads(self._box.decrypt(row.secret))}
            config = CustomerConfig.model_validate(data)
        return Customer(
            customer_id=row.customer_id,
            config=config,
            revision=row.revision,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # ---- OAuth2 tokens shared by every process ------------------------------------------

    async def get_token(
        self, customer_id: str, revision: int, now: datetime
    ) -> tuple[str, datetime] | None:
        aware(now)
        found = await self._db.read(
            lambda conn: postgres_customers.get_token(conn, customer_id, revision, now)
        )
        if found is None:
            return None
        ciphertext, expires_at = found
        return self._box.decrypt(ciphertext), expires_at

    async def put_token(
        self,
        customer_id: str,
        revision: int,
        token: str,
        expires_at: datetime,
        *,
        fetched_by: str | None = None,
    ) -> None:
        aware(expires_at)
        ciphertext = self._box.encrypt(token)
        by = fetched_by or self._process
        await self._db.write(
            lambda conn: postgres_customers.put_token(
                conn, customer_id, revision, ciphertext, expires_at, by
            )
        )

    async def drop_token(self, customer_id: str, revision: int, token: str) -> None:
        async def drop(conn: Conn) -> None:
            for ciphertext in await postgres_customers.token_ciphertexts(
                conn, customer_id, revision
            ):
                if self._box.decrypt(ciphertext) == token:
                    await postgres_customers.drop_token(conn, customer_id, revision, ciphertext)

        await self._db.write(drop)

    # ---- worker heartbeats -------------------------------------------------------------

    async def heartbeat(
        self, worker_id: str, now: datetime, *, host: str, pid: int, in_flight: int
    ) -> None:
        aware(now)
        await self._db.write(
            lambda conn: postgres_workers.heartbeat(conn, worker_id, now, host, pid, in_flight)
        )

    async def forget_worker(self, worker_id: str) -> None:
        await self._db.write(lambda conn: postgres_workers.forget(conn, worker_id))

    async def list_workers(self) -> list[WorkerInfo]:
        return await self._db.read(postgres_workers.list_workers)

    # ---- ingest and work ---------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewDelivery]) -> list[EnqueueResult]:
        if not items:
            return []
        for item in items:
            aware(item.created_at)
        return await self._ingest.submit(list(items))

    async def _enqueue_group(self, items: list[NewDelivery]) -> list[EnqueueResult]:
        return await self._db.write(lambda conn: postgres_ingest.enqueue(conn, items))

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
        aware(now)

        # ``finished`` and ``prefetch`` are not used here: with several workers sharing an
        # endpoint, one that refilled its slots the moment its attempts ended, or held leases
        # unsent, would keep the others out of it (and scale-out needs them to share the
        # work). Its slots come free on record. With no ``payload_file``, every payload is
        # carried (``inline_payload_max`` is not used either).
        async def claim(conn: Conn) -> list[Claimed]:
            return await postgres_claim.claim(
                conn,
                self._rotation,
                now=now,
                worker_id=worker_id,
                lease_s=lease_s,
                per_endpoint_limit=per_endpoint_limit,
                limit=limit,
                probe_interval_s=probe_interval_s,
            )

        if not record:
            return await self._db.write(claim)
        # Its own transaction first: recording and claiming together could make two workers
        # wait on each other's endpoint rows. Once recorded, a failing claim claims nothing
        # (the caller must not record these again).
        await self.record(record, worker_id=worker_id, pause_after=pause_after)
        try:
            return await self._db.write(claim)
        except Exception:
            log.exception("claim failed after recording %d outcomes", len(record))
            return []

    async def record(
        self, outcomes: Sequence[Outcome], *, worker_id: str, pause_after: int = 0
    ) -> None:
        if not outcomes:
            return
        batch = list(outcomes)
        postgres_queue.check_outcomes(batch)
        await self._db.write(
            lambda conn: postgres_queue.record(conn, batch, worker_id, pause_after)
        )

    async def release(self, delivery_ids: Sequence[str], *, worker_id: str, now: datetime) -> None:
        if not delivery_ids:
            return
        aware(now)
        ids = list(delivery_ids)
        await self._db.write(lambda conn: postgres_queue.release(conn, ids, worker_id, now))

    async def next_due_at(self) -> datetime | None:
        return await self._db.read(postgres_claim.next_due_at)

    # ---- read back and replay ----------------------------------------------------------

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return await self._db.read(lambda conn: postgres_reads.get_delivery(conn, delivery_id))

    async def list_deliveries(
        self, filt: DeliveryFilter, *, limit: int, cursor: str | None
    ) -> Page:
        return await self._db.read(
            lambda conn: postgres_reads.list_deliveries(conn, filt, limit, cursor)
        )

    async def retry_delivery(self, delivery_id: str, now: datetime) -> Delivery:
        aware(now)
        return await self._db.write(
            lambda conn: postgres_reads.retry_delivery(conn, delivery_id, now)
        )

    async def count_by_status(self) -> dict[Status, int]:
        return await self._db.read(postgres_reads.count_by_status)
