"""What an operator can do, whichever face they use (HTTP API or CLI).

Validation of customers and documents happens here, once; the store only persists.

Pushes check the customer (does it exist, is the service configured and enabled) against a
copy read at most ``customer_cache_s`` (1 s) ago, not one read per push: that read costs a
round trip through the store plus decrypting and validating the configuration. A change made
through *this* ``Operations`` (``put_customer``, ``delete_customer``) drops the copy at once,
so the next push sees it; a change made by another process (another ``serve``, the CLI) is
seen by pushes here within ``customer_cache_s``. Reads for display (``get_customer``) and
delivery never use the copy.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telepush.batch import split_batch
from telepush.domain.customer import Customer, CustomerConfig, check_customer_id
from telepush.domain.delivery import (
    HEARTBEAT_INTERVAL_S,
    Delivery,
    EnqueueResult,
    NewDelivery,
    Status,
    WorkerInfo,
)
from telepush.domain.ids import new_delivery_ids
from telepush.errors import (
    InvalidInput,
    InvalidPayload,
    NotFound,
    PayloadTooLarge,
    TelepushError,
)
from telepush.metrics import QueueGauges, observe_ingested, observe_replayed
from telepush.services import get_service
from telepush.store.base import DeliveryFilter, Page, Store
from telepush.store.grouping import GroupedEnqueue

MAX_IDEMPOTENCY_KEY = 200
MAX_PAGE = 1000
CUSTOMER_CACHE_S = 1.0  # how old a push's copy of its customer may be (see the module doc)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BatchItemResult:
    index: int
    delivery_id: str | None = None
    status: Status | None = None
    duplicate: bool = False
    error: TelepushError | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"index": self.index, "error": self.error.to_dict()}
        return {
            "index": self.index,
            "deliveryId": self.delivery_id,
            "status": str(self.status),
            "duplicate": self.duplicate,
        }


class Operations:
    def __init__(
        self,
        store: Store,
        *,
        max_body_bytes: int,
        clock: Callable[[], datetime] = utcnow,
        on_enqueued: Callable[[], None] | None = None,
        customer_cache_s: float = CUSTOMER_CACHE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self._on_enqueued = on_enqueued
        self._cache_s = customer_cache_s
        self._monotonic = monotonic
        # customer id -> (monotonic time read, customer); _changes counts this process's
        # changes, so that a read overtaken by one is not kept.
        self._customers: dict[str, tuple[float, Customer]] = {}
        self._changes = 0
        self._singles = GroupedEnqueue(store)  # single pushes arriving together: one call

    # ---- customers -----------------------------------------------------------------------
    async def put_customer(self, customer_id: str, data: Any) -> tuple[Customer, bool]:
        check_customer_id(customer_id)
        config = CustomerConfig.parse(data)
        self._forget(customer_id)
        try:
            return await self.store.put_customer(customer_id, config, self.clock())
        finally:
            self._forget(customer_id)

    async def get_customer(self, customer_id: str) -> Customer:
        customer = await self.store.get_customer(customer_id)
        if customer is None:
            raise NotFound(f"no customer '{customer_id}'", field="customerId")
        return customer

    async def list_customers(self) -> list[Customer]:
        return await self.store.list_customers()

    async def delete_customer(self, customer_id: str) -> None:
        self._forget(customer_id)
        try:
            deleted = await self.store.delete_customer(customer_id, self.clock())
        finally:
            self._forget(customer_id)
        if not deleted:
            raise NotFound(f"no customer '{customer_id}'", field="customerId")

    async def _pushing_to(self, customer_id: str) -> Customer:
        """The customer as pushes check it: a copy at most ``customer_cache_s`` old."""
        now = self._monotonic()
        cached = self._customers.get(customer_id)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        changes = self._changes
        try:
            customer = await self.get_customer(customer_id)
        except NotFound:
            self._customers.pop(customer_id, None)
            raise
        if changes == self._changes and self._cache_s > 0:
            self._customers[customer_id] = (now, customer)
        return customer

    def _forget(self, customer_id: str) -> None:
        self._changes += 1
        self._customers.pop(customer_id, None)

    # ---- ingest --------------------------------------------------------------------------
    async def push(
        self, customer_id: str, service: str, body: bytes, idempotency_key: str | None = None
    ) -> EnqueueResult:
        """Validate one document and queue it; returns once it is committed."""
        self.check_size(len(body))
        spec = await self._check_target(customer_id, service)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise InvalidInput(
                f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters",
                field="Idempotency-Key",
            )
        now = self.clock()
        doc = spec.validate(body)
        [delivery_id] = new_delivery_ids(1)
        item = NewDelivery(delivery_id, customer_id, service, spec.natural_key(doc, now), body, now)
        if idempotency_key is not None:
            item = dataclasses.replace(item, idempotency_key=idempotency_key)
        try:
            result = await self._singles.enqueue_one(item)
        except NotFound:  # deleted by another process since this one's copy was read
            self._forget(customer_id)
            raise
        if not result.duplicate:
            observe_ingested(customer_id, service, 1)
        self._notify()
        return result

    async def push_batch(
        self, customer_id: str, service: str, body: bytes
    ) -> list[BatchItemResult]:
        """Queue every valid document of a JSON array or NDJSON body; one result per item."""
        self.check_size(len(body))
        spec = await self._check_target(customer_id, service)
        now = self.clock()
        items = split_batch(body)
        results: list[BatchItemResult | None] = [None] * len(items)
        valid: list[tuple[int, str | None, bytes]] = []  # index, natural key, document
        validate, natural_key = spec.validate, spec.natural_key
        for item in items:
            assert item.raw is not None
            try:
                doc = validate(item.raw)
            except InvalidPayload as exc:
                results[item.index] = BatchItemResult(item.index, error=exc)
                continue
            valid.append((item.index, natural_key(doc, now), item.raw))
        if valid:
            ids = new_delivery_ids(len(valid))
            try:
                stored = await self.store.enqueue(
                    [
                        NewDelivery(delivery_id, customer_id, service, key, raw, now)
                        for delivery_id, (_, key, raw) in zip(ids, valid, strict=True)
                    ]
                )
            except NotFound:
                self._forget(customer_id)
                raise
            for (index, _, _), res in zip(valid, stored, strict=True):
                results[index] = BatchItemResult(index, res.delivery_id, res.status, res.duplicate)
            observe_ingested(customer_id, service, sum(not res.duplicate for res in stored))
            self._notify()
        return [r for r in results if r is not None]

    def check_size(self, size: int) -> None:
        if size > self.max_body_bytes:
            raise PayloadTooLarge(
                f"body of {size} bytes is over the limit of {self.max_body_bytes} bytes "
                "(TELEPUSH_MAX_BODY_BYTES)",
                field="body",
            )

    async def _check_target(self, customer_id: str, service: str) -> Any:
        spec = get_service(service)
        customer = await self._pushing_to(customer_id)
        configured = customer.config.services.get(service)
        if configured is None:
            raise InvalidInput(
                f"customer '{customer_id}' has no '{service}' service configured; add "
                f"services.{service}.url to its configuration",
                field="service",
                code="service_not_configured",
            )
        if not configured.enabled:
            raise InvalidInput(
                f"service '{service}' is disabled for customer '{customer_id}'",
                field="service",
                code="service_disabled",
            )
        return spec

    def _notify(self) -> None:
        if self._on_enqueued is not None:
            self._on_enqueued()

    def notify(self) -> None:
        """Deliveries became due now (re-queued, endpoint resumed): wake the worker."""
        self._notify()

    async def check_endpoint(self, customer_id: str, service: str) -> None:
        """``service`` is known and configured for the existing customer (enabled or not)."""
        get_service(service)
        customer = await self.get_customer(customer_id)
        if service not in customer.config.services:
            raise NotFound(
                f"customer '{customer_id}' has no '{service}' service configured",
                field="service",
            )

    # ---- read back and replay --------------------------------------------------------------
    async def list_deliveries(
        self,
        *,
        customer_id: str | None = None,
        service: str | None = None,
        status: str | None = None,
        key: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        if service is not None:
            get_service(service)
        try:
            status_value = Status(status) if status else None
        except ValueError:
            raise InvalidInput(
                f"unknown status '{status}'; one of: {', '.join(s.value for s in Status)}",
                field="status",
            ) from None
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        filt = DeliveryFilter(
            customer_id=customer_id, service=service, status=status_value, key=key or None
        )
        return await self.store.list_deliveries(filt, limit=limit, cursor=cursor)

    async def get_delivery(self, delivery_id: str) -> Delivery:
        delivery = await self.store.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery '{delivery_id}'", field="deliveryId")
        return delivery

    async def list_workers(self) -> list[tuple[WorkerInfo, bool]]:
        """Worker processes and whether each is alive (beat within three intervals)."""
        now = self.clock()
        return [
            (w, (now - w.last_seen_at).total_seconds() < 3 * HEARTBEAT_INTERVAL_S)
            for w in await self.store.list_workers()
        ]

    async def count_by_status(self) -> dict[Status, int]:
        counts = await self.store.count_by_status()
        return {status: counts.get(status, 0) for status in Status}

    async def queue_gauges(self) -> QueueGauges:
        """The store's figures for the metrics gauges: deliveries by status, paused
        endpoints, live workers."""
        now = self.clock()
        counts = await self.count_by_status()
        health = await self.store.endpoint_health(now=now, since=now)
        workers = await self.list_workers()
        return QueueGauges(
            by_status={str(status): n for status, n in counts.items()},
            paused_endpoints=sum(1 for h in health if h.paused is not None),
            workers_alive=sum(1 for _, alive in workers if alive),
        )

    async def retry_delivery(self, delivery_id: str) -> Delivery:
        delivery = await self.store.retry_delivery(delivery_id, self.clock())
        observe_replayed(delivery.customer_id, delivery.service, 1)
        self._notify()
        return delivery
