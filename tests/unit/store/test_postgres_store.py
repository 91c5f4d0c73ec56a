"""What is particular to the PostgreSQL store: opening, refusing work, group commit, batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import psycopg
import pytest

from telepush.domain.delivery import Status
from telepush.errors import StoreError
from telepush.store.base import Store
from telepush.store.postgres import PostgresStore
from telepush.store.secrets import SecretBox
from telepush.testing import FakeClock, make_customer_config, new_delivery
from tests.contract.backends import scratch_database

BOX = SecretBox(SecretBox.generate_key())


@pytest.fixture
def url() -> Iterator[str]:
    with scratch_database() as database_url:
        yield database_url


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(url, BOX)
    await opened.open()
    await opened.migrate()
    # deliveries can only be queued for a customer that exists
    await opened.put_customer("acme", make_customer_config(), FakeClock().now())
    yield opened
    await opened.close()


async def test_postgres_store_satisfies_the_protocol(store: PostgresStore) -> None:
    """PostgresStore is a Store."""
    assert isinstance(store, Store)


async def test_unopened_store_refuses_work(url: str) -> None:
    """Calls before ``open`` raise StoreError instead of hanging."""
    unopened = PostgresStore(url, BOX)
    with pytest.raises(StoreError, match="not open"):
        await unopened.count_by_status()
    with pytest.raises(StoreError, match="not open"):
        await unopened.enqueue([new_delivery("acme", "trip")])


async def test_unreachable_server_is_a_store_error_within_the_timeout() -> None:
    """Opening a store on a port nobody listens on fails fast with StoreError."""
    store = PostgresStore(
        "postgresql://postgres@127.0.0.1:1/none", BOX, acquire_timeout_s=1, connect_timeout_s=1
    )
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect"):
        await store.open()
    assert time.monotonic() - started < 5


async def test_naive_datetime_is_refused(store: PostgresStore) -> None:
    """Times must be aware UTC datetimes."""
    with pytest.raises(ValueError, match="aware"):
        await store.retry_delivery("x", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        await store.enqueue([new_delivery("acme", "trip", created_at=datetime(2025, 1, 1))])


async def test_concurrent_enqueues_share_few_transactions(store: PostgresStore) -> None:
    """200 concurrent enqueue calls all succeed in far fewer than 200 commits."""
    before = store.commit_count
    items = [new_delivery("acme", "trip") for _ in range(200)]
    results = await asyncio.gather(*(store.enqueue([item]) for item in items))
    assert [r.delivery_id for [r] in results] == [i.delivery_id for i in items]
    assert (await store.count_by_status())[Status.PENDING] == 200
    assert store.commit_count - before <= 10


async def test_a_batch_of_a_thousand_is_one_transaction(store: PostgresStore) -> None:
    """One enqueue call of 1,000 items commits once, every item in order."""
    before = store.commit_count
    items = [new_delivery("acme", "crash") for _ in range(1000)]
    results = await store.enqueue(items)
    assert [r.delivery_id for r in results] == [i.delivery_id for i in items]
    assert store.commit_count - before == 1
    assert (await store.count_by_status())[Status.PENDING] == 1000


async def test_failing_enqueue_does_not_lose_its_group(store: PostgresStore) -> None:
    """A call that fails (a reused delivery id) fails alone; the calls beside it commit."""
    taken = new_delivery("acme", "trip")
    await store.enqueue([taken])
    clash = new_delivery("acme", "trip", delivery_id=taken.delivery_id)
    good = [new_delivery("acme", "trip") for _ in range(20)]
    calls = [store.enqueue([item]) for item in good[:10]]
    calls += [store.enqueue([clash])]
    calls += [store.enqueue([item]) for item in good[10:]]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[10], StoreError)
    assert all(isinstance(r, list) for i, r in enumerate(results) if i != 10)
    for item in good:
        assert await store.get_delivery(item.delivery_id) is not None
    assert (await store.count_by_status())[Status.PENDING] == 21


async def test_close_writes_submitted_enqueues_then_refuses_new_ones(url: str) -> None:
    """Enqueues submitted before close are committed; after close the store refuses work."""
    store = PostgresStore(url, BOX)
    await store.open()
    await store.migrate()
    await store.put_customer("acme", make_customer_config(), FakeClock().now())
    items = [new_delivery("acme", "trip") for _ in range(30)]
    pending = [asyncio.create_task(store.enqueue([item])) for item in items]
    await asyncio.sleep(0)
    await store.close()
    assert len(await asyncio.gather(*pending)) == 30
    with pytest.raises(StoreError, match="not open"):
        await store.enqueue([new_delivery("acme", "trip")])
    reopened = PostgresStore(url, BOX)
    await reopened.open()
    try:
        assert (await reopened.count_by_status())[Status.PENDING] == 30
    finally:
        await reopened.close()


async def test_refresh_statistics_shows_the_planner_a_freshly_loaded_queue(
    url: str, store: PostgresStore
) -> None:
    """After a bulk load the planner still believes the table empty; refreshing (what a
    worker does as it starts) gives it the real row count and the live-lease count its
    index on status rather than a scan of the endpoint's every row."""
    await store.enqueue([new_delivery("acme", "trip") for _ in range(3000)])
    claimed = await store.claim(
        now=FakeClock().now(), worker_id="w", lease_s=60, per_endpoint_limit=32, limit=32
    )
    assert len(claimed) == 32
    count = (
        "EXPLAIN SELECT count(*) FROM deliveries WHERE customer_id = 'acme' "
        "AND service = 'trip' AND status = 'sending' AND due_at > now()"
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await store.refresh_statistics()
        reltuples = await (
            await conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'")
        ).fetchone()
        plan = "\n".join(row[0] for row in await (await conn.execute(count)).fetchall())
    assert reltuples is not None and 2500 <= reltuples[0] <= 3500
    assert "deliveries_by_key" not in plan and "Seq Scan" not in plan


async def test_refresh_statistics_leaves_an_empty_queue_unanalysed(
    url: str, store: PostgresStore
) -> None:
    """Analysed empty, the planner would take the table for empty as a backlog arrives; left
    alone, it estimates from the table's size."""
    await store.refresh_statistics()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (
            await conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'")
        ).fetchone()
    assert row is not None and row[0] < 0  # never analysed


async def test_refresh_statistics_analyses_again_only_once_the_queue_has_doubled(
    url: str, store: PostgresStore
) -> None:
    """A queue the planner has seen is analysed again only when it has more than doubled,
    so workers starting one after another do not each analyse it."""

    async def planner_rows() -> float:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            row = await (
                await conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'")
            ).fetchone()
        assert row is not None
        return float(row[0])

    await store.enqueue([new_delivery("acme", "trip") for _ in range(3000)])
    await store.refresh_statistics()
    assert 2500 <= await planner_rows() <= 3500
    await store.enqueue([new_delivery("acme", "trip") for _ in range(1000)])
    await store.refresh_statistics()
    assert 2500 <= await planner_rows() <= 3500  # grown by a third: left as it was
    await store.enqueue([new_delivery("acme", "trip") for _ in range(5000)])
    await store.refresh_statistics()
    assert 8000 <= await planner_rows() <= 10000  # tripled: analysed again
