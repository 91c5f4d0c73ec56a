"""Record and release: attempts and next states, guarded by the lease."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from telepush.domain.customer import Customer
from telepush.domain.delivery import Attempt, Claimed, ErrorKind, Outcome, Status
from telepush.store.base import Store
from telepush.testing import FakeClock, make_payload
from tests.contract.backends import Backend
from tests.contract.conftest import CUSTOMER, Enqueue


async def _claim(
    store: Store, clock: FakeClock, worker_id: str = "w1", lease_s: float = 60
) -> list[Claimed]:
    return await store.claim(
        now=clock.now(), worker_id=worker_id, lease_s=lease_s, per_endpoint_limit=100, limit=100
    )


def _attempt(
    item: Claimed,
    clock: FakeClock,
    status_code: int | None = 200,
    error: ErrorKind | None = None,
    detail: str | None = None,
) -> Attempt:
    return Attempt(item.attempt_number, clock.now(), status_code, error, 12, None, detail)


def _outcome(
    delivery_id: str,
    attempt: Attempt,
    status: Status,
    next_attempt_at: datetime | None = None,
    *,
    service: str = "trip",
) -> Outcome:
    return Outcome(
        delivery_id, attempt, status, next_attempt_at, customer_id=CUSTOMER, service=service
    )


async def test_record_delivered(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A delivered outcome makes the delivery final and keeps its attempt."""
    delivery_id = await enqueue("trip")
    [item] = await _claim(store, clock)
    clock.advance(1)
    await store.record(
        [_outcome(delivery_id, _attempt(item, clock), Status.DELIVERED)], worker_id="w1"
    )
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at) == (Status.DELIVERED, None)
    assert [(a.number, a.status_code, a.at) for a in delivery.attempts] == [(1, 200, clock.now())]
    clock.advance(3600)
    assert await _claim(store, clock) == []


async def test_record_pending_schedules_the_next_attempt(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A pending outcome is due again exactly at its next_attempt_at, as attempt 2."""
    delivery_id = await enqueue("trip")
    [item] = await _claim(store, clock)
    retry_at = clock.now() + timedelta(minutes=5)
    attempt = _attempt(item, clock, 503, error=ErrorKind.HTTP_STATUS)
    await store.record([_outcome(delivery_id, attempt, Status.PENDING, retry_at)], worker_id="w1")
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at) == (Status.PENDING, retry_at)
    clock.advance(299)
    assert await _claim(store, clock) == []
    clock.advance(1)
    [again] = await _claim(store, clock)
    assert again.attempt_number == 2


async def test_record_failed(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A failed outcome ends the delivery as failed, never claimed again."""
    delivery_id = await enqueue("crash")
    [item] = await _claim(store, clock)
    attempt = _attempt(item, clock, None, error=ErrorKind.BLOCKED, detail="private address")
    outcome = _outcome(delivery_id, attempt, Status.FAILED, service="crash")
    await store.record([outcome], worker_id="w1")
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at) == (Status.FAILED, None)
    clock.advance(86400)
    assert await _claim(store, clock) == []


async def test_attempts_read_back_oldest_first_with_every_field(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Each recorded attempt comes back, in order, with all it recorded."""
    delivery_id = await enqueue("trip")
    expected: list[Attempt] = []
    for number in (1, 2):
        [item] = await _claim(store, clock)
        attempt = Attempt(
            number, clock.now(), 500, ErrorKind.HTTP_STATUS, 40 + number, "oops", f"try {number}"
        )
        expected.append(attempt)
        await store.record(
            [_outcome(delivery_id, attempt, Status.PENDING, clock.now())], worker_id="w1"
        )
    [item] = await _claim(store, clock)
    timeout = Attempt(3, clock.now(), None, ErrorKind.TIMEOUT, 30000, None, "read timeout")
    expected.append(timeout)
    await store.record([_outcome(delivery_id, timeout, Status.FAILED)], worker_id="w1")
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert delivery.attempts == expected
    assert delivery.attempt_count == 3


async def test_record_writes_a_batch_of_outcomes(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """One record call applies every outcome of its batch."""
    ids = [await enqueue("trip") for _ in range(3)]
    items = {c.delivery_id: c for c in await _claim(store, clock)}
    statuses = [Status.DELIVERED, Status.FAILED, Status.PENDING]
    outcomes = [
        _outcome(d, _attempt(items[d], clock), s, clock.now() if s is Status.PENDING else None)
        for d, s in zip(ids, statuses, strict=True)
    ]
    await store.record(outcomes, worker_id="w1")
    read = [await store.get_delivery(d) for d in ids]
    assert [d.status for d in read if d is not None] == statuses


async def test_stale_lease_owner_cannot_overwrite(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A worker whose lease expired and was taken over cannot move the delivery."""
    delivery_id = await enqueue("trip")
    [stale] = await _claim(store, clock, lease_s=10)
    clock.advance(10)
    [current] = await _claim(store, clock, worker_id="w2")
    await store.record(
        [_outcome(delivery_id, _attempt(stale, clock, 500), Status.FAILED)], worker_id="w1"
    )
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status is Status.SENDING
    await store.record(
        [_outcome(delivery_id, _attempt(current, clock), Status.DELIVERED)], worker_id="w2"
    )
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status is Status.DELIVERED


async def test_delivered_outcome_counts_even_from_a_stale_lease(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A 200 is a 200: a delivered outcome applies though another worker holds the lease."""
    delivery_id = await enqueue("trip")
    [stale] = await _claim(store, clock, lease_s=10)
    clock.advance(10)
    await _claim(store, clock, worker_id="w2")
    await store.record(
        [_outcome(delivery_id, _attempt(stale, clock), Status.DELIVERED)], worker_id="w1"
    )
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status is Status.DELIVERED


async def test_delivered_outcome_does_not_reopen_a_final_delivery(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A late 200 for a delivery already failed leaves it failed."""
    delivery_id = await enqueue("crash")
    [item] = await _claim(store, clock)
    await store.record(
        [_outcome(delivery_id, _attempt(item, clock, 500), Status.FAILED, service="crash")],
        worker_id="w1",
    )
    await store.record(
        [_outcome(delivery_id, _attempt(item, clock), Status.DELIVERED, service="crash")],
        worker_id="w1",
    )
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status is Status.FAILED


async def test_trip_to_retry_is_superseded_when_its_deletion_arrived(
    store: Store,
    backend: Backend,
    workdir: Path,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
) -> None:
    """A trip whose push failed after its deletion arrived is cancelled, payload erased."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-1"))
    [item] = await _claim(store, clock)
    deletion = await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-1"))
    attempt = _attempt(item, clock, 502)
    await store.record([_outcome(trip, attempt, Status.PENDING, clock.now())], worker_id="w1")
    delivery = await store.get_delivery(trip)
    assert delivery is not None
    assert (delivery.status, len(delivery.attempts)) == (Status.SUPERSEDED, 1)
    assert await backend.stored_payload(workdir, trip) is None
    assert [c.delivery_id for c in await _claim(store, clock)] == [deletion]


async def test_release_gives_the_lease_back_uncounted(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Released deliveries are pending and due now; their next claim is the same attempt."""
    delivery_id = await enqueue("trip")
    [item] = await _claim(store, clock, lease_s=300)
    now = clock.advance(5)
    await store.release([delivery_id], worker_id="w1", now=now)
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at, delivery.attempt_count) == (
        Status.PENDING,
        now,
        0,
    )
    [again] = await _claim(store, clock, worker_id="w2")
    assert again.attempt_number == item.attempt_number == 1


async def test_release_ignores_leases_of_other_workers(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A worker cannot release a lease it does not hold."""
    delivery_id = await enqueue("trip")
    await _claim(store, clock)
    await store.release([delivery_id], worker_id="w2", now=clock.now())
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status is Status.SENDING


async def test_released_trip_is_superseded_when_its_deletion_arrived(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A trip given back unsent after its deletion arrived is cancelled, not resent."""
    trip = await enqueue("trip", payload=make_payload("trip", itinId="T-6"))
    await _claim(store, clock)
    await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="T-6"))
    await store.release([trip], worker_id="w1", now=clock.now())
    delivery = await store.get_delivery(trip)
    assert delivery is not None and delivery.status is Status.SUPERSEDED
