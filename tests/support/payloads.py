"""A delivery whose payload a claim leaves in the SQLite store (``StoredPayload``)."""

from __future__ import annotations

from telepush.domain.delivery import StoredPayload
from telepush.store.sqlite import SQLiteStore
from telepush.testing import FakeClock, make_customer_config, new_delivery


async def claim_stored(store: SQLiteStore, body: bytes) -> StoredPayload:
    """Queue ``body`` as a trip of customer ``acme`` and claim it with every payload left in
    the store."""
    clock = FakeClock()
    await store.put_customer("acme", make_customer_config(), clock.now())
    await store.enqueue([new_delivery("acme", "trip", created_at=clock.now(), payload=body)])
    [claimed] = await store.claim(
        now=clock.now(),
        worker_id="w",
        lease_s=60,
        per_endpoint_limit=1,
        limit=1,
        inline_payload_max=0,
    )
    assert isinstance(claimed.payload, StoredPayload)
    return claimed.payload
