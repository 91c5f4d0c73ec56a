"""Reading back: one delivery, pages of deliveries, counts, and replaying a failed one."""

from __future__ import annotations

import pytest

from telepush.domain.customer import Customer
from telepush.domain.delivery import Attempt, Delivery, Outcome, Status
from telepush.errors import Conflict, InvalidInput, NotFound
from telepush.store.base import DeliveryFilter, Store
from telepush.testing import FakeClock
from tests.contract.conftest import Enqueue

# Deliveries can only be queued for a customer that exists.
pytestmark = pytest.mark.usefixtures("customer", "other_customer")


async def _fail_one(store: Store, clock: FakeClock, delivery_id: str) -> None:
    [item] = await store.claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=10, limit=1
    )
    assert item.delivery_id == delivery_id
    attempt = Attempt(item.attempt_number, clock.now(), 500, None, 5)
    outcome = Outcome(
        delivery_id, attempt, Status.FAILED, customer_id=item.customer_id, service=item.service
    )
    await store.record([outcome], worker_id="w1")


async def _all_pages(store: Store, filt: DeliveryFilter, limit: int) -> list[list[Delivery]]:
    pages: list[list[Delivery]] = []
    cursor: str | None = None
    while True:
        page = await store.list_deliveries(filt, limit=limit, cursor=cursor)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_get_unknown_delivery_is_none(store: Store) -> None:
    """An unknown delivery id reads back as None."""
    assert await store.get_delivery("no-such-delivery") is None


async def test_listing_pages_newest_first_without_duplicates_or_gaps(
    store: Store, enqueue: Enqueue
) -> None:
    """Following cursors visits every delivery once, newest first."""
    ids = [await enqueue("trip") for _ in range(23)]
    pages = await _all_pages(store, DeliveryFilter(), limit=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [d.delivery_id for p in pages for d in p] == ids[::-1]


async def test_listing_an_exact_multiple_ends_without_an_empty_page(
    store: Store, enqueue: Enqueue
) -> None:
    """When the last page is full, it carries no cursor."""
    for _ in range(4):
        await enqueue("trip")
    pages = await _all_pages(store, DeliveryFilter(), limit=2)
    assert [len(p) for p in pages] == [2, 2]


async def test_listing_does_not_fill_attempts(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Listed deliveries come without their attempts."""
    delivery_id = await enqueue("crash")
    await _fail_one(store, clock, delivery_id)
    page = await store.list_deliveries(DeliveryFilter(), limit=10, cursor=None)
    assert [(d.delivery_id, d.attempts) for d in page.items] == [(delivery_id, [])]


async def test_listing_filters_by_customer_service_and_status(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Each filter, alone or combined, keeps only the matching deliveries, across pages."""
    failed = await enqueue("crash")
    await _fail_one(store, clock, failed)
    trips = [await enqueue("trip") for _ in range(3)]
    others = [await enqueue("trip", customer_id="other") for _ in range(2)]

    async def ids(filt: DeliveryFilter) -> list[str]:
        return [d.delivery_id for p in await _all_pages(store, filt, limit=2) for d in p]

    assert await ids(DeliveryFilter(customer_id="other")) == others[::-1]
    assert await ids(DeliveryFilter(service="crash")) == [failed]
    assert await ids(DeliveryFilter(status=Status.FAILED)) == [failed]
    assert await ids(DeliveryFilter(customer_id="acme", service="trip")) == trips[::-1]
    assert await ids(DeliveryFilter(customer_id="acme", status=Status.PENDING)) == trips[::-1]
    assert await ids(DeliveryFilter(customer_id="nobody")) == []


@pytest.mark.parametrize("cursor", ["", "not a cursor", "c2VxOi0x", "!!!", "seq:5"])
async def test_invalid_cursor_is_refused_naming_the_field(store: Store, cursor: str) -> None:
    """A cursor that no page produced is an InvalidInput on field ``cursor``."""
    with pytest.raises(InvalidInput) as caught:
        await store.list_deliveries(DeliveryFilter(), limit=10, cursor=cursor)
    assert caught.value.field == "cursor"


async def test_count_by_status_counts_every_status(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Counts cover every status, zero where there is none."""
    assert await store.count_by_status() == dict.fromkeys(Status, 0)
    failed = await enqueue("crash")
    await _fail_one(store, clock, failed)
    for _ in range(2):
        await enqueue("trip")
    counts = await store.count_by_status()
    assert counts == {**dict.fromkeys(Status, 0), Status.PENDING: 2, Status.FAILED: 1}


async def test_retry_puts_a_failed_delivery_back_due_now(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A failed delivery retried is pending, due now, keeps its attempts, and is claimed next."""
    delivery_id = await enqueue("crash")
    await _fail_one(store, clock, delivery_id)
    now = clock.advance(3600)
    retried = await store.retry_delivery(delivery_id, now)
    assert (retried.status, retried.next_attempt_at, len(retried.attempts)) == (
        Status.PENDING,
        now,
        1,
    )
    [item] = await store.claim(now=now, worker_id="w1", lease_s=60, per_endpoint_limit=10, limit=10)
    assert (item.delivery_id, item.attempt_number) == (delivery_id, 2)


async def test_retry_of_unknown_delivery_is_not_found(store: Store, clock: FakeClock) -> None:
    """Retrying an unknown delivery raises NotFound."""
    with pytest.raises(NotFound):
        await store.retry_delivery("no-such-delivery", clock.now())


async def test_retry_of_a_delivery_not_failed_is_a_conflict(
    store: Store, clock: FakeClock, enqueue: Enqueue
) -> None:
    """Only failed deliveries can be retried; a pending one raises Conflict and is unchanged."""
    delivery_id = await enqueue("trip")
    with pytest.raises(Conflict):
        await store.retry_delivery(delivery_id, clock.advance(10))
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.next_attempt_at == delivery.created_at
