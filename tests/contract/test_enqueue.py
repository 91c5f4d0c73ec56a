"""Enqueue: durable, in order, idempotent, and deletion wins over pending trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from telepush.domain.customer import Customer
from telepush.domain.delivery import Attempt, Outcome, Status
from telepush.errors import NotFound
from telepush.store.base import DeliveryFilter, Store
from telepush.testing import FakeClock, make_payload, new_delivery
from tests.contract.backends import Backend
from tests.contract.conftest import CUSTOMER, Enqueue

# Deliveries can only be queued for a customer that exists.
pytestmark = pytest.mark.usefixtures("customer", "other_customer")


async def _claim_all(store: Store, clock: FakeClock, worker_id: str = "w1") -> list[str]:
    claimed = await store.claim(
        now=clock.now(), worker_id=worker_id, lease_s=60, per_endpoint_limit=100, limit=100
    )
    return [c.delivery_id for c in claimed]


async def _fail(store: Store, clock: FakeClock, delivery_id: str) -> None:
    attempt = Attempt(number=1, at=clock.now(), status_code=500, error=None, duration_ms=5)
    outcome = Outcome(delivery_id, attempt, Status.FAILED, customer_id=CUSTOMER, service="trip")
    await store.record([outcome], worker_id="w1")


async def test_enqueue_returns_one_pending_result_per_item_in_order(
    store: Store, clock: FakeClock
) -> None:
    """Each item gets its own id back, in order, pending and not a duplicate."""
    items = [new_delivery(CUSTOMER, s, created_at=clock.now()) for s in ("trip", "crash", "trip")]
    results = await store.enqueue(items)
    assert [r.delivery_id for r in results] == [i.delivery_id for i in items]
    assert all(r.status is Status.PENDING and not r.duplicate for r in results)


async def test_enqueued_delivery_reads_back_due_at_creation(store: Store, clock: FakeClock) -> None:
    """A new delivery is pending, due at its creation time, with no attempt yet."""
    item = new_delivery(
        CUSTOMER, "trip", make_payload("trip", itinId="T-1"), created_at=clock.now()
    )
    await store.enqueue([item])
    delivery = await store.get_delivery(item.delivery_id)
    assert delivery is not None
    assert (delivery.customer_id, delivery.service, delivery.key) == (CUSTOMER, "trip", "T-1")
    assert delivery.status is Status.PENDING
    assert delivery.created_at == delivery.next_attempt_at == clock.now()
    assert (delivery.attempt_count, delivery.attempts) == (0, [])


async def test_empty_enqueue_returns_nothing(store: Store) -> None:
    """Enqueueing no item returns an empty list."""
    assert await store.enqueue([]) == []


async def test_same_idempotency_key_returns_the_earlier_delivery(
    store: Store, clock: FakeClock
) -> None:
    """A second item with the same key gets the first delivery's id, marked duplicate, unwritten."""
    first = new_delivery(CUSTOMER, "trip", created_at=clock.now(), idempotency_key="k-1")
    second = new_delivery(CUSTOMER, "trip", created_at=clock.now(), idempotency_key="k-1")
    [original] = await store.enqueue([first])
    [again] = await store.enqueue([second])
    assert not original.duplicate
    assert (again.delivery_id, again.status, again.duplicate) == (
        first.delivery_id,
        Status.PENDING,
        True,
    )
    assert await store.get_delivery(second.delivery_id) is None
    assert (await store.count_by_status())[Status.PENDING] == 1


async def test_idempotency_holds_within_one_batch(store: Store, clock: FakeClock) -> None:
    """Two items of one batch sharing a key produce one delivery."""
    items = [
        new_delivery(CUSTOMER, "crash", created_at=clock.now(), idempotency_key="same")
        for _ in range(3)
    ]
    results = await store.enqueue(items)
    assert [r.delivery_id for r in results] == [items[0].delivery_id] * 3
    assert [r.duplicate for r in results] == [False, True, True]
    page = await store.list_deliveries(DeliveryFilter(), limit=10, cursor=None)
    assert [d.delivery_id for d in page.items] == [items[0].delivery_id]


async def test_duplicate_reports_the_current_status(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """A duplicate of a delivery already sending reports ``sending``."""
    first = new_delivery(CUSTOMER, "trip", created_at=clock.now(), idempotency_key="k")
    await store.enqueue([first])
    await _claim_all(store, clock)
    [again] = await store.enqueue([new_delivery(CUSTOMER, "trip", idempotency_key="k")])
    assert (again.status, again.duplicate) == (Status.SENDING, True)


async def test_idempotency_key_is_scoped_to_customer_and_service(
    store: Store, clock: FakeClock
) -> None:
    """The same key under another service or customer is a new delivery."""
    items = [
        new_delivery(CUSTOMER, "trip", created_at=clock.now(), idempotency_key="k"),
        new_delivery(CUSTOMER, "crash", created_at=clock.now(), idempotency_key="k"),
        new_delivery("other", "trip", created_at=clock.now(), idempotency_key="k"),
    ]
    results = await store.enqueue(items)
    assert [r.duplicate for r in results] == [False, False, False]
    assert len({r.delivery_id for r in results}) == 3


async def test_deletion_supersedes_pending_trip_and_erases_its_payload(
    store: Store, backend: Backend, workdir: Path, enqueue: Enqueue
) -> None:
    """A deleted-trip cancels the pending trip of the same key and erases its payload."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-9"))
    deletion = await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-9"))
    superseded = await store.get_delivery(trip)
    assert superseded is not None
    assert (superseded.status, superseded.next_attempt_at) == (Status.SUPERSEDED, None)
    assert await backend.stored_payload(workdir, trip) is None
    kept = await store.get_delivery(deletion)
    assert kept is not None and kept.status is Status.PENDING


async def test_deletion_in_the_same_batch_supersedes_the_trip(
    store: Store, clock: FakeClock
) -> None:
    """A trip and its deletion enqueued together: the trip is superseded."""
    trip = new_delivery(
        CUSTOMER, "trip", make_payload("trip", itinId="T-2"), created_at=clock.now()
    )
    deletion = new_delivery(
        CUSTOMER, "deleted-trip", make_payload("deleted-trip", itinId="T-2"), created_at=clock.now()
    )
    await store.enqueue([trip, deletion])
    read = await store.get_delivery(trip.delivery_id)
    assert read is not None and read.status is Status.SUPERSEDED


async def test_deletion_leaves_other_trips_alone(
    store: Store, backend: Backend, workdir: Path, enqueue: Enqueue
) -> None:
    """Trips of another key or another customer stay pending with their payloads."""
    other_key = await enqueue("trip", payload=make_payload("trip", itinId="T-other"))
    other_customer = await enqueue(
        "trip", customer_id="other", payload=make_payload("trip", itinId="T-1")
    )
    await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-1"))
    for delivery_id in (other_key, other_customer):
        delivery = await store.get_delivery(delivery_id)
        assert delivery is not None and delivery.status is Status.PENDING
        assert await backend.stored_payload(workdir, delivery_id) is not None


async def test_deletion_leaves_a_sending_trip_sending(
    store: Store,
    backend: Backend,
    workdir: Path,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
) -> None:
    """A trip being sent is not cancelled by its deletion: it keeps its lease and payload."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-3"))
    assert await _claim_all(store, clock) == [trip]
    await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-3"))
    delivery = await store.get_delivery(trip)
    assert delivery is not None and delivery.status is Status.SENDING
    assert await backend.stored_payload(workdir, trip) is not None


async def test_deletion_supersedes_a_failed_trip(
    store: Store,
    backend: Backend,
    workdir: Path,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
) -> None:
    """A dead trip is cancelled by its deletion too, so a replay can never resend it."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-4"))
    await _claim_all(store, clock)
    await _fail(store, clock, trip)
    await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-4"))
    delivery = await store.get_delivery(trip)
    assert delivery is not None and delivery.status is Status.SUPERSEDED
    assert await backend.stored_payload(workdir, trip) is None


async def test_deletion_leaves_a_delivered_trip_delivered(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A trip already delivered stays delivered when its deletion arrives."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-5"))
    await _claim_all(store, clock)
    attempt = Attempt(number=1, at=clock.now(), status_code=200, error=None, duration_ms=5)
    outcome = Outcome(trip, attempt, Status.DELIVERED, customer_id=CUSTOMER, service="trip")
    await store.record([outcome], worker_id="w1")
    await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-5"))
    delivery = await store.get_delivery(trip)
    assert delivery is not None and delivery.status is Status.DELIVERED


async def test_a_trip_after_its_deletion_in_the_same_batch_stays_pending(
    store: Store, backend: Backend, workdir: Path, clock: FakeClock
) -> None:
    """Order within a batch counts: a trip queued after its deletion is a new push."""
    before, deletion, after = (
        new_delivery(CUSTOMER, service, make_payload(service, itinId="T-6"), created_at=clock.now())
        for service in ("trip", "deleted-trip", "trip")
    )
    results = await store.enqueue([before, deletion, after])
    assert [r.status for r in results] == [Status.PENDING] * 3
    read = [await store.get_delivery(i.delivery_id) for i in (before, deletion, after)]
    assert [None if d is None else d.status for d in read] == [
        Status.SUPERSEDED,
        Status.PENDING,
        Status.PENDING,
    ]
    assert await backend.stored_payload(workdir, before.delivery_id) is None
    assert await backend.stored_payload(workdir, after.delivery_id) == after.payload


async def test_claim_hands_out_the_payload_as_enqueued(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """Each claimed delivery carries its own payload, byte for byte, large ones included."""
    bodies = [make_payload("crash", note="x" * size) for size in (10, 5_000, 300_000)]
    items = [new_delivery(CUSTOMER, "crash", body, created_at=clock.now()) for body in bodies]
    await store.enqueue(items)
    claimed = await store.claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=10, limit=10
    )
    assert {c.delivery_id: c.payload for c in claimed} == {i.delivery_id: i.payload for i in items}


async def test_enqueue_for_a_missing_customer_is_refused_and_writes_nothing(
    store: Store, clock: FakeClock
) -> None:
    """A push checked against a customer that has been deleted since (by another process)
    must not leave a payload behind: the whole call is refused with NotFound."""
    items = [
        new_delivery(CUSTOMER, "trip", created_at=clock.now()),
        new_delivery("gone-customer", "trip", created_at=clock.now()),
    ]
    with pytest.raises(NotFound) as info:
        await store.enqueue(items)
    assert "gone-customer" in str(info.value) and info.value.field == "customerId"
    assert sum((await store.count_by_status()).values()) == 0
    assert await store.get_delivery(items[0].delivery_id) is None
