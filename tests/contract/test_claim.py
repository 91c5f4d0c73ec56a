"""Claim: leases, limits per endpoint and in all, fairness, expiry, and deletion ordering."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from telepush.domain.customer import Customer
from telepush.domain.delivery import Attempt, Claimed, Outcome, Status, StoredPayload
from telepush.store.base import Store
from telepush.store.sqlite_payloads import PayloadReader
from telepush.testing import FakeClock, make_customer_config, make_payload, new_delivery
from tests.contract.conftest import CUSTOMER, Enqueue


async def _claim(
    store: Store,
    clock: FakeClock,
    *,
    worker_id: str = "w1",
    lease_s: float = 60,
    per_endpoint_limit: int = 100,
    limit: int = 100,
) -> list[Claimed]:
    return await store.claim(
        now=clock.now(),
        worker_id=worker_id,
        lease_s=lease_s,
        per_endpoint_limit=per_endpoint_limit,
        limit=limit,
    )


async def _deliver(store: Store, clock: FakeClock, item: Claimed, worker_id: str = "w1") -> None:
    attempt = Attempt(item.attempt_number, clock.now(), 200, None, 3)
    outcome = Outcome(
        item.delivery_id,
        attempt,
        Status.DELIVERED,
        customer_id=item.customer_id,
        service=item.service,
    )
    await store.record([outcome], worker_id=worker_id)


async def test_claim_leases_a_due_delivery_with_all_it_needs(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """A claimed delivery carries its payload, attempt 1 and the customer's revision."""
    item = new_delivery(CUSTOMER, "crash", created_at=clock.now())
    await store.enqueue([item])
    [claimed] = await _claim(store, clock)
    assert claimed.delivery_id == item.delivery_id
    assert (claimed.customer_id, claimed.service, claimed.key) == (CUSTOMER, "crash", item.key)
    assert claimed.payload == item.payload
    assert claimed.created_at == item.created_at
    assert (claimed.attempt_number, claimed.customer_revision) == (1, customer.revision)
    delivery = await store.get_delivery(item.delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at, delivery.attempt_count) == (
        Status.SENDING,
        None,
        1,
    )


async def test_claim_reports_the_current_customer_revision(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """After the customer is replaced, claims carry the new revision."""
    await enqueue("trip")
    await store.put_customer(CUSTOMER, make_customer_config(name="v2"), clock.now())
    [claimed] = await _claim(store, clock)
    assert claimed.customer_revision == 2


async def test_leased_delivery_is_not_claimed_again(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """While its lease lives, a delivery is not handed to another worker."""
    await enqueue("trip")
    assert len(await _claim(store, clock)) == 1
    assert await _claim(store, clock, worker_id="w2") == []


async def test_not_yet_due_deliveries_are_not_claimed(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A delivery due in the future is left until its time comes."""
    later = await enqueue("trip", created_at=clock.now() + timedelta(seconds=30))
    assert await _claim(store, clock) == []
    clock.advance(30)
    assert [c.delivery_id for c in await _claim(store, clock)] == [later]


async def test_claim_respects_limit(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """No more than ``limit`` deliveries are leased at once; the oldest come first."""
    ids = [await enqueue("trip", created_at=clock.advance(1)) for _ in range(8)]
    claimed = await _claim(store, clock, limit=3)
    assert sorted(c.delivery_id for c in claimed) == sorted(ids[:3])


async def test_per_endpoint_limit_counts_live_leases_across_claims(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """An endpoint never has more live leases than its limit, whichever worker holds them."""
    for _ in range(10):
        await enqueue("trip")
    first = await _claim(store, clock, per_endpoint_limit=3)
    assert len(first) == 3
    assert await _claim(store, clock, worker_id="w2", per_endpoint_limit=3) == []
    await _deliver(store, clock, first[0])
    assert len(await _claim(store, clock, worker_id="w2", per_endpoint_limit=3)) == 1


async def test_busy_endpoint_does_not_take_another_endpoints_share(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """Endpoint A with 1,000 due and B with 5: limit 10, 5 per endpoint gets all of B's."""
    backlog = [new_delivery(CUSTOMER, "trip", created_at=clock.now()) for _ in range(1000)]
    await store.enqueue(backlog)
    clock.advance(1)
    few = [new_delivery(CUSTOMER, "crash", created_at=clock.now()) for _ in range(5)]
    await store.enqueue(few)
    claimed = await _claim(store, clock, per_endpoint_limit=5, limit=10)
    assert Counter(c.service for c in claimed) == {"trip": 5, "crash": 5}


async def test_endpoints_share_a_small_limit_in_turn(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """With more busy endpoints than ``limit``, successive claims serve each in turn."""
    services = ("trip", "crash", "diagnosis")
    for service in services:
        for _ in range(5):
            await enqueue(service)
    served = [c.service for _ in services for c in await _claim(store, clock, limit=1)]
    assert sorted(served) == sorted(services)


async def test_one_claim_spreads_its_limit_over_busy_endpoints(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """With a high per-endpoint limit, one claim still gives each busy endpoint a share."""
    for service in ("trip", "crash"):
        await store.enqueue(
            [new_delivery(CUSTOMER, service, created_at=clock.now()) for _ in range(20)]
        )
    claimed = await _claim(store, clock, per_endpoint_limit=100, limit=10)
    assert Counter(c.service for c in claimed) == {"trip": 5, "crash": 5}


async def test_expired_lease_is_reclaimed_with_the_next_attempt_number(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """After its lease runs out, a delivery is claimed again and its attempt count grows."""
    delivery_id = await enqueue("trip")
    [first] = await _claim(store, clock, lease_s=30)
    clock.advance(29)
    assert await _claim(store, clock, worker_id="w2") == []
    clock.advance(1)
    [again] = await _claim(store, clock, worker_id="w2")
    assert (again.delivery_id, first.attempt_number, again.attempt_number) == (delivery_id, 1, 2)
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.attempt_count == 2


async def test_expired_leases_free_their_endpoint_slots(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Expired leases do not count against the per-endpoint limit."""
    for _ in range(4):
        await enqueue("trip")
    assert len(await _claim(store, clock, lease_s=10, per_endpoint_limit=2)) == 2
    clock.advance(10)
    assert len(await _claim(store, clock, worker_id="w2", per_endpoint_limit=2)) == 2


async def test_deletion_waits_while_its_trip_is_sending(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A deleted-trip is not claimed until the push of the same trip has finished."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-7"))
    [claimed_trip] = await _claim(store, clock)
    deletion = await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-7"))
    other = await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-8"))
    assert [c.delivery_id for c in await _claim(store, clock)] == [other]
    await _deliver(store, clock, claimed_trip)
    assert claimed_trip.delivery_id == trip
    assert [c.delivery_id for c in await _claim(store, clock)] == [deletion]


async def test_disabled_or_unconfigured_endpoints_are_not_claimed(
    store: Store, clock: FakeClock, enqueue: Enqueue
) -> None:
    """Deliveries of a disabled service or an unconfigured service stay queued. (Those of a
    customer that does not exist cannot be queued: test_enqueue.)"""
    config = make_customer_config(services=("trip", "crash"), disabled=("crash",))
    await store.put_customer(CUSTOMER, config, clock.now())
    await enqueue("crash")
    await enqueue("diagnosis")
    assert await _claim(store, clock) == []
    counts = await store.count_by_status()
    assert counts[Status.PENDING] == 2


async def test_next_due_at_is_the_earliest_due_time(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """next_due_at is None on an empty queue, then the earliest pending time or lease expiry."""
    assert await store.next_due_at() is None
    start = clock.now()
    await enqueue("trip", created_at=start + timedelta(seconds=50))
    await enqueue("crash", created_at=start)
    assert await store.next_due_at() == start
    await _claim(store, clock, lease_s=20)
    assert await store.next_due_at() == start + timedelta(seconds=20)


async def test_next_due_at_ignores_disabled_endpoints(
    store: Store, clock: FakeClock, enqueue: Enqueue
) -> None:
    """Deliveries no worker may claim do not wake workers up."""
    config = make_customer_config(services=("trip", "crash"), disabled=("crash",))
    await store.put_customer(CUSTOMER, config, clock.now())
    await enqueue("crash")
    assert await store.next_due_at() is None


async def test_a_claim_leaves_payloads_over_inline_payload_max_in_a_payload_file(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """With ``inline_payload_max``, a store that has a ``payload_file`` (SQLite) hands a
    longer payload over as ``StoredPayload``, which ``PayloadReader`` reads back exactly;
    one without (PostgreSQL) carries every payload."""
    small = new_delivery(CUSTOMER, "trip", created_at=clock.now(), payload=make_payload("trip"))
    large_body = make_payload("trip", itinId="big", sensors="x" * 5000)
    large = new_delivery(CUSTOMER, "trip", created_at=clock.now(), payload=large_body)
    assert len(small.payload) < 1000 < len(large.payload)
    await store.enqueue([small, large])
    claimed = await store.claim(
        now=clock.now(),
        worker_id="w1",
        lease_s=60,
        per_endpoint_limit=10,
        limit=10,
        inline_payload_max=1000,
    )
    payloads = {c.delivery_id: c.payload for c in claimed}
    assert payloads[small.delivery_id] == small.payload
    if store.payload_file is None:
        assert payloads[large.delivery_id] == large.payload
        return
    stored = payloads[large.delivery_id]
    assert isinstance(stored, StoredPayload)
    reader = PayloadReader(store.payload_file)
    try:
        assert reader.read(stored.seq) == large.payload
    finally:
        reader.close()
