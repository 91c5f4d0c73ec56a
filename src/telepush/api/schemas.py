"""Response shapes of the API (camelCase, like the provider's), published in /openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from telepush.domain.delivery import Attempt, Delivery


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PushAccepted(_Out):
    delivery_id: str
    status: str
    duplicate: bool = False


class BatchResult(_Out):
    items: list[dict[str, Any]]
    accepted: int
    rejected: int


class AttemptOut(_Out):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str | None
    detail: str | None = None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            number=a.number,
            at=a.at,
            status_code=a.status_code,
            error=None if a.error is None else str(a.error),
            duration_ms=a.duration_ms,
            response=a.response,
            detail=a.detail,
        )


class DeliveryOut(_Out):
    delivery_id: str
    customer_id: str
    service: str
    key: str | None
    status: str
    created_at: datetime
    next_attempt_at: datetime | None
    attempt_count: int
    attempts: list[AttemptOut] | None = Field(default=None)

    @classmethod
    def of(cls, d: Delivery, *, with_attempts: bool) -> DeliveryOut:
        return cls(
            delivery_id=d.delivery_id,
            customer_id=d.customer_id,
            service=d.service,
            key=d.key,
            status=str(d.status),
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at,
            attempt_count=d.attempt_count,
            attempts=[AttemptOut.of(a) for a in d.attempts] if with_attempts else None,
        )


class DeliveryPage(_Out):
    items: list[DeliveryOut]
    next_cursor: str | None
