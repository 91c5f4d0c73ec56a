"""Helpers for tests, shipped with the package: a fake clock and factories of valid objects.

clock = FakeClock()
config = make_customer_config(auth="basic", services=("trip", "deleted-trip"))
item = new_delivery("acme", "trip", make_payload("trip", itinId="T1"), created_at=clock.now())
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from telepush.domain.customer import CustomerConfig
from telepush.domain.delivery import NewDelivery
from telepush.services import SERVICE_NAMES, get_service

DEFAULT_START = datetime(2025, 1, 30, 7, 0, tzinfo=UTC)
TEST_SECRET = "test-client-secret-3f9c1a"
TEST_PASSWORD = "test-password-8d2e47"


class FakeClock:
    """A clock that moves only when told: ``now()`` is an aware UTC datetime."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds``; return the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now


def make_customer_config(
    url_base: str = "https://127.0.0.1:8443",
    auth: Literal["oauth2", "basic"] = "oauth2",
    services: Iterable[str] = SERVICE_NAMES,
    *,
    disabled: Iterable[str] = (),
    secret: str | None = None,
    name: str = "Test Customer",
    accepted_status: Literal["200", "2xx"] = "200",
) -> CustomerConfig:
    """A valid customer pushing each of ``services`` to ``{url_base}/push/{service}``.

    ``secret`` is the client secret (oauth2) or password (basic); ``disabled`` services are
    configured but switched off."""
    base = url_base.rstrip("/")
    off = set(disabled)
    auth_config: dict[str, Any]
    if auth == "oauth2":
        auth_config = {
            "type": "oauth2",
            "url": f"{base}/oauth/token",
            "clientId": "telepush-test",
            "clientSecret": secret or TEST_SECRET,
        }
    else:
        auth_config = {
            "type": "basic",
            "username": "telepush-test",
            "password": secret or TEST_PASSWORD,
        }
    return CustomerConfig.parse(
        {
            "name": name,
            "auth": auth_config,
            "services": {
                service: {"url": f"{base}/push/{service}", "enabled": service not in off}
                for service in services
            },
            "acceptedStatus": accepted_status,
        }
    )


def make_payload(service: str, **overrides: Any) -> bytes:
    """A valid JSON document for ``service``; ``overrides`` replace top-level fields."""
    document = _sample(service)
    document.update(overrides)
    return json.dumps(document, separators=(",", ":")).encode()


def _sample(service: str) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:12]
    if service == "trip":
        return {
            "itinId": f"trip-{unique}",
            "userId": "user-1",
            "firstname": "Ada",
            "lastname": "Lovelace",
            "itineraryStatistics": {"distance": 12.5, "tripDuration": 900.0},
            "route": {"latitude": [48.85, 48.86], "longitude": [2.35, 2.36]},
        }
    if service == "deleted-trip":
        return {
            "itinId": f"trip-{unique}",
            "event": "TRIP_DELETION",
            "date": "2025-01-30T07:23:22.000+0000",
        }
    if service == "crash":
        return {"crashId": f"crash-{unique}", "userId": "user-1", "crashStatus": "CONFIRMED"}
    if service == "crash-report":
        return {"info": {"reportId": f"report-{unique}"}, "riskFactors": {}}
    if service == "diagnosis":
        return {
            "userId": f"user-{unique}",
            "date": "2025-01-30",
            "smartphoneData": {"osType": "android"},
        }
    get_service(service)  # raises UnknownService naming the known ones
    raise AssertionError(f"no sample payload for service {service!r}")


def new_delivery(
    customer_id: str,
    service: str,
    payload: bytes | None = None,
    *,
    created_at: datetime = DEFAULT_START,
    key: str | None = None,
    idempotency_key: str | None = None,
    delivery_id: str | None = None,
) -> NewDelivery:
    """A ``NewDelivery`` as ingest would make it; the key comes from the payload unless given."""
    body = make_payload(service) if payload is None else payload
    if key is None:
        spec = get_service(service)
        key = spec.natural_key(spec.validate(body), created_at)
    return NewDelivery(
        delivery_id=delivery_id or str(uuid.uuid4()),
        customer_id=customer_id,
        service=service,
        key=key,
        payload=body,
        created_at=created_at,
        idempotency_key=idempotency_key,
    )
