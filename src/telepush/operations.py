"""What an operator can do, whichever face they use (HTTP API or CLI).

Validation of customers and documents happens here, once; the store only persists.
"""

from __future__ import annotations

import dataclasses
import uuid
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
from telepush.errors import InvalidInput, InvalidPayload, NotFound, PayloadTooLarge, TelepushError
from telepush.metrics import QueueGauges, observe_ingested, observe_replayed
from telepush.services import get_service
from telepush.store.base import DeliveryFilter, Page, Store

MAX_IDEMPOTENCY_KEY = 200
MAX_PAGE = 1000


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
    ) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self._on_enqueued = on_enqueued

    # ---- customers -----------------------------------------------------------------------
    async def put_customer(self, customer_id: str, data: Any) -> tuple[Customer, bool]:
        check_customer_id(customer_id)
        config = CustomerConfig.parse(data)
        return await self.store.put_customer(customer_id, config, self.clock())

    async def get_customer(self, customer_id: str) -> Customer:
        customer = await self.store.get_customer(customer_id)
        if customer is None:
            raise NotFound(f"no customer '{customer_id}'", field="customerId")
        return customer

    async def list_customers(self) -> list[Customer]:
        return await self.store.list_customers()

    async def delete_customer(self, customer_id: str) -> None:
        if not await self.store.delete_customer(customer_id, self.clock()):
            raise NotFound(f"no customer '{customer_id}'", field="customerId")

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
        item = self._new(customer_id, service, spec.natural_key(doc, now), body, now)
        if idempotency_key is not None:
            item = dataclasses.replace(item, idempotency_key=idempotency_key)
        [result] = await self.store.enqueue([item])
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
        results: list[BatchItemResult | None] = []
        queued: list[tuple[int, NewDelivery]] = []
        for item in split_batch(body):
            assert item.raw is not None
            try:
                doc = spec.validate(item.raw)
            except InvalidPayload as exc:
                results.append(BatchItemResult(item.index, error=exc))
                continue
            key = spec.natural_key(doc, now)
            queued.append((item.index, self._new(customer_id, service, key, item.raw, now)))
            results.append(None)
        if queued:
            stored = await self.store.enqueue([new for _, new in queued])
            for (index, _), res in zip(queued, stored, strict=True):
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
        customer = await self.get_customer(customer_id)
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

    @staticmethod
    def _new(
        customer_id: str, service: str, key: str | None, raw: bytes, now: datetime
    ) -> NewDelivery:
        return NewDelivery(
            delivery_id=str(uuid.uuid4()),
            customer_id=customer_id,
            service=service,
            key=key,
            payload=raw,
            created_at=now,
        )

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
