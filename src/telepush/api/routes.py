"""Routes of the management API: customers, pushes, deliveries."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from telepush.api.body import read_body
from telepush.api.schemas import BatchResult, DeliveryOut, DeliveryPage, PushAccepted
from telepush.domain.customer import CustomerConfig
from telepush.errors import InvalidInput
from telepush.operations import Operations

CUSTOMER_SCHEMA = CustomerConfig.model_json_schema(by_alias=True)


def build_router(ops: Operations) -> APIRouter:
    router = APIRouter(prefix="/v1")

    # ---- customers -------------------------------------------------------------------------
    @router.put(
        "/customers/{customerId}",
        tags=["customers"],
        summary="Create or replace a customer",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CUSTOMER_SCHEMA}},
            }
        },
    )
    async def put_customer(customerId: str, request: Request) -> JSONResponse:
        body = await read_body(request, 1024 * 1024)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"body is not valid JSON: {exc}", code="invalid_json") from None
        customer, created = await ops.put_customer(customerId, data)
        return JSONResponse(customer.public(), status_code=201 if created else 200)

    @router.get("/customers", tags=["customers"], summary="List customers")
    async def list_customers() -> dict[str, Any]:
        return {"items": [c.public() for c in await ops.list_customers()]}

    @router.get("/customers/{customerId}", tags=["customers"], summary="One customer")
    async def get_customer(customerId: str) -> dict[str, Any]:
        return (await ops.get_customer(customerId)).public()

    @router.delete(
        "/customers/{customerId}",
        tags=["customers"],
        status_code=204,
        summary="Delete a customer, its secrets and its payloads",
    )
    async def delete_customer(customerId: str) -> Response:
        await ops.delete_customer(customerId)
        return Response(status_code=204)

    # ---- pushes ----------------------------------------------------------------------------
    @router.post(
        "/customers/{customerId}/push/{service}",
        tags=["push"],
        status_code=202,
        response_model=PushAccepted,
        summary="Queue one document; 202 once it is committed",
    )
    async def push(
        customerId: str,
        service: str,
        request: Request,
        idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    ) -> PushAccepted:
        body = await read_body(request, ops.max_body_bytes)
        result = await ops.push(customerId, service, body, idempotency_key)
        return PushAccepted(
            delivery_id=result.delivery_id, status=str(result.status), duplicate=result.duplicate
        )

    @router.post(
        "/customers/{customerId}/push/{service}/batch",
        tags=["push"],
        status_code=202,
        response_model=BatchResult,
        summary="Queue a JSON array or NDJSON of documents; one result per item",
    )
    async def push_batch(customerId: str, service: str, request: Request) -> BatchResult:
        body = await read_body(request, ops.max_body_bytes)
        results = await ops.push_batch(customerId, service, body)
        rejected = sum(1 for r in results if r.error is not None)
        return BatchResult(
            items=[r.to_dict() for r in results],
            accepted=len(results) - rejected,
            rejected=rejected,
        )

    # ---- deliveries ------------------------------------------------------------------------
    @router.get(
        "/deliveries",
        tags=["deliveries"],
        response_model=DeliveryPage,
        summary="Deliveries, newest first",
    )
    async def list_deliveries(
        customer: str | None = None,
        service: str | None = None,
        status: str | None = None,
        key: str | None = None,
        limit: int = Query(default=50),
        cursor: str | None = None,
    ) -> DeliveryPage:
        page = await ops.list_deliveries(
            customer_id=customer,
            service=service,
            status=status,
            key=key,
            limit=limit,
            cursor=cursor,
        )
        return DeliveryPage(
            items=[DeliveryOut.of(d, with_attempts=False) for d in page.items],
            next_cursor=page.next_cursor,
        )

    @router.get(
        "/deliveries/{deliveryId}",
        tags=["deliveries"],
        response_model=DeliveryOut,
        response_model_exclude_none=False,
        summary="One delivery with its attempts",
    )
    async def get_delivery(deliveryId: str) -> DeliveryOut:
        return DeliveryOut.of(await ops.get_delivery(deliveryId), with_attempts=True)

    @router.post(
        "/deliveries/{deliveryId}/retry",
        tags=["deliveries"],
        response_model=DeliveryOut,
        summary="Put a failed delivery back in the queue",
    )
    async def retry_delivery(deliveryId: str) -> DeliveryOut:
        return DeliveryOut.of(await ops.retry_delivery(deliveryId), with_attempts=False)

    @router.get("/workers", tags=["ops"], summary="Worker processes and their heartbeats")
    async def workers() -> dict[str, Any]:
        return {
            "items": [
                {
                    "workerId": w.worker_id,
                    "host": w.host,
                    "pid": w.pid,
                    "startedAt": w.started_at.isoformat(),
                    "lastSeenAt": w.last_seen_at.isoformat(),
                    "inFlight": w.in_flight,
                    "alive": alive,
                }
                for w, alive in await ops.list_workers()
            ]
        }

    @router.get("/stats", tags=["deliveries"], summary="Deliveries counted by status")
    async def stats() -> dict[str, Any]:
        counts = await ops.count_by_status()
        return {"deliveries": {str(status): n for status, n in counts.items()}}

    return router
