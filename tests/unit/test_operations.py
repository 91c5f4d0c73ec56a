"""Operations on the push path: the customer copy pushes check, new delivery ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telepush.domain.delivery import Status
from telepush.domain.ids import new_delivery_ids
from telepush.errors import InvalidInput, NotFound
from telepush.operations import Operations
from telepush.store.sqlite import SQLiteStore
from tests.support.stores import migrated_sqlite

URL = "https://acme.example/push/trip"
TRIP = b'{"itinId": "T-1"}'


def with_trip(enabled: bool) -> dict[str, object]:
    return {
        "name": "Acme",
        "auth": {"type": "basic", "username": "u", "password": "pw"},
        "services": {"trip": {"url": URL, "enabled": enabled}},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with migrated_sqlite(tmp_path / "ops.db") as opened:
        yield opened


async def test_a_disabled_service_is_refused_right_after_the_put(store: SQLiteStore) -> None:
    """A change made through this process is seen by the very next push, cache or not."""
    ops = Operations(store, max_body_bytes=1 << 20, monotonic=Clock())  # the clock never moves
    await ops.put_customer("acme", with_trip(True))
    assert not (await ops.push("acme", "trip", TRIP)).duplicate  # the customer is now cached
    await ops.put_customer("acme", with_trip(False))
    with pytest.raises(InvalidInput) as info:
        await ops.push("acme", "trip", TRIP)
    assert info.value.code == "service_disabled"
    with pytest.raises(InvalidInput):
        await ops.push_batch("acme", "trip", TRIP)
    await ops.put_customer("acme", with_trip(True))
    await ops.push("acme", "trip", TRIP)
    await ops.delete_customer("acme")
    with pytest.raises(NotFound):
        await ops.push("acme", "trip", TRIP)


async def test_another_process_change_is_seen_within_the_cache_time(store: SQLiteStore) -> None:
    """A change made elsewhere (here: another Operations on the same store) reaches pushes
    once the copy is older than customer_cache_s."""
    clock = Clock()
    pusher = Operations(store, max_body_bytes=1 << 20, monotonic=clock, customer_cache_s=1.0)
    admin = Operations(store, max_body_bytes=1 << 20)
    await admin.put_customer("acme", with_trip(True))
    await pusher.push("acme", "trip", TRIP)
    await admin.put_customer("acme", with_trip(False))
    clock.now += 0.5
    await pusher.push("acme", "trip", TRIP)  # still the copy read 0.5 s ago
    clock.now += 0.6
    with pytest.raises(InvalidInput):
        await pusher.push("acme", "trip", TRIP)
    await admin.delete_customer("acme")
    clock.now += 1.1
    with pytest.raises(NotFound):
        await pusher.push("acme", "trip", TRIP)


async def test_no_cache_reads_every_time(store: SQLiteStore) -> None:
    """customer_cache_s=0 reads the customer for every push."""
    pusher = Operations(store, max_body_bytes=1 << 20, monotonic=Clock(), customer_cache_s=0)
    admin = Operations(store, max_body_bytes=1 << 20)
    await admin.put_customer("acme", with_trip(True))
    await pusher.push("acme", "trip", TRIP)
    await admin.put_customer("acme", with_trip(False))
    with pytest.raises(InvalidInput):
        await pusher.push("acme", "trip", TRIP)


def test_delivery_ids_are_uuid7_unique_and_time_ordered() -> None:
    """Ids are RFC 9562 version 7 UUIDs in canonical form; later batches sort later."""
    first = new_delivery_ids(1000)
    assert len(set(first)) == 1000
    for text in first:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    later = new_delivery_ids(1)[0]
    assert all(later[:13] >= text[:13] for text in first)  # the millisecond prefix
    assert new_delivery_ids(0) == []


class CountingStore:
    """Wraps a store, counting enqueue calls; fails them on demand."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.enqueue_calls: list[int] = []
        self.fail = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def enqueue(self, items: list) -> list:
        self.enqueue_calls.append(len(items))
        if self.fail:
            raise RuntimeError("the store is down")
        return await self.store.enqueue(items)


async def test_concurrent_single_pushes_share_one_enqueue(store: SQLiteStore) -> None:
    """Pushes arriving together are queued by one store call, in order: a repeated
    idempotency key is a duplicate of the first; each push gets its own result."""
    counting = CountingStore(store)
    ops = Operations(counting, max_body_bytes=1 << 20)  # type: ignore[arg-type]
    await ops.put_customer("acme", with_trip(True))
    await ops.push("acme", "trip", b'{"itinId": "W"}')  # reads the customer: now cached
    results = await asyncio.gather(
        ops.push("acme", "trip", b'{"itinId": "A"}'),
        ops.push("acme", "trip", b'{"itinId": "B"}', idempotency_key="k"),
        ops.push("acme", "trip", b'{"itinId": "C"}', idempotency_key="k"),
        ops.push("acme", "trip", b'{"itinId": "D"}'),
    )
    assert counting.enqueue_calls == [1, 4]
    assert [r.duplicate for r in results] == [False, False, True, False]
    assert results[2].delivery_id == results[1].delivery_id
    assert len({r.delivery_id for r in results}) == 3
    for r, key in zip(results, "ABBD", strict=True):
        delivery = await store.get_delivery(r.delivery_id)
        assert delivery is not None and delivery.key == key


async def test_a_failed_shared_enqueue_fails_every_push_of_it(store: SQLiteStore) -> None:
    counting = CountingStore(store)
    ops = Operations(counting, max_body_bytes=1 << 20)  # type: ignore[arg-type]
    await ops.put_customer("acme", with_trip(True))
    counting.fail = True
    results = await asyncio.gather(
        ops.push("acme", "trip", TRIP), ops.push("acme", "trip", TRIP), return_exceptions=True
    )
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    counting.fail = False
    assert not (await ops.push("acme", "trip", TRIP)).duplicate


async def test_a_customer_deleted_elsewhere_is_not_found_not_a_store_error(
    store: SQLiteStore,
) -> None:
    """A push checked against a copy of a customer that another process has just deleted
    fails at the store (the deliveries' foreign key); it is reported as the 404 it is."""
    pusher = Operations(store, max_body_bytes=1 << 20, monotonic=Clock())  # copy never ages
    admin = Operations(store, max_body_bytes=1 << 20)
    await admin.put_customer("acme", with_trip(True))
    await pusher.push("acme", "trip", TRIP)  # the copy is cached
    await admin.delete_customer("acme")
    with pytest.raises(NotFound):
        await pusher.push("acme", "trip", TRIP)
    await admin.put_customer("acme", with_trip(True))
    await pusher.push("acme", "trip", TRIP)  # cached again
    await admin.delete_customer("acme")
    with pytest.raises(NotFound):
        await pusher.push_batch("acme", "trip", TRIP + b"\n" + TRIP)
    assert (await store.count_by_status())[Status.PENDING] == 0  # nothing queued for acme


async def test_one_failing_push_does_not_fail_the_others_of_its_group(
    store: SQLiteStore,
) -> None:
    """Pushes grouped into one enqueue: when one of them cannot be stored (its customer was
    deleted by another process), the others are stored all the same."""
    counting = CountingStore(store)
    pusher = Operations(counting, max_body_bytes=1 << 20, monotonic=Clock())  # type: ignore[arg-type]
    admin = Operations(store, max_body_bytes=1 << 20)
    await admin.put_customer("acme", with_trip(True))
    await admin.put_customer("beta", with_trip(True))
    await pusher.push("acme", "trip", TRIP)
    await pusher.push("beta", "trip", TRIP)  # both cached
    await admin.delete_customer("acme")
    counting.enqueue_calls.clear()
    results = await asyncio.gather(
        pusher.push("beta", "trip", b'{"itinId": "B-1"}'),
        pusher.push("acme", "trip", b'{"itinId": "A-1"}'),
        pusher.push("beta", "trip", b'{"itinId": "B-2"}'),
        return_exceptions=True,
    )
    assert counting.enqueue_calls == [3, 1, 1, 1]  # together, then each alone
    assert isinstance(results[1], NotFound)
    for result, key in ((results[0], "B-1"), (results[2], "B-2")):
        assert not isinstance(result, BaseException)
        delivery = await store.get_delivery(result.delivery_id)
        assert delivery is not None and delivery.key == key and delivery.customer_id == "beta"
