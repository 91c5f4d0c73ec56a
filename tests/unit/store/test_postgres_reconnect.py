"""Connections killed under the PostgreSQL store: errors, not hangs, and recovery by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from telepush.domain.delivery import Status
from telepush.errors import StoreError
from telepush.store.postgres import PostgresStore
from telepush.store.secrets import SecretBox
from telepush.testing import FakeClock, make_customer_config, new_delivery
from tests.contract.backends import scratch_database

BOX = SecretBox(SecretBox.generate_key())

_TERMINATE_OTHERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@pytest.fixture
def url() -> Iterator[str]:
    with scratch_database() as database_url:
        yield database_url


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(url, BOX, min_size=3, max_size=5)
    await opened.open()
    await opened.migrate()
    yield opened
    await opened.close()


async def _terminate_others(url: str) -> int:
    """Kill every other connection to the database (as a server restart would); how many."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(_TERMINATE_OTHERS)
        row = await cur.fetchone()
    assert row is not None
    killed: int = row[0]
    return killed


async def _terminate_store_backends(url: str) -> int:
    """Kill the store's connections only; how many."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(_TERMINATE_OTHERS.rstrip() + " AND application_name = 'telepush'")
        row = await cur.fetchone()
    assert row is not None
    killed: int = row[0]
    return killed


async def _backends_of(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'telepush'"
        )
        row = await cur.fetchone()
    assert row is not None
    count: int = row[0]
    return count


async def test_store_works_again_after_its_connections_are_killed(
    store: PostgresStore, url: str
) -> None:
    """After every backend of the pool is terminated, reads, writes and claims just work."""
    clock = FakeClock()
    await store.put_customer("acme", make_customer_config(), clock.now())
    await store.enqueue([new_delivery("acme", "trip", created_at=clock.now())])
    assert await _backends_of(url) >= 1

    assert await _terminate_others(url) >= 1

    assert (await store.count_by_status())[Status.PENDING] == 1
    [result] = await store.enqueue([new_delivery("acme", "crash", created_at=clock.now())])
    assert result.status is Status.PENDING
    claimed = await store.claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=10, limit=10
    )
    assert len(claimed) == 2
    assert await _backends_of(url) >= 1


async def test_write_on_a_connection_killed_under_it_is_a_store_error(
    store: PostgresStore, url: str
) -> None:
    """A write whose connection is killed while it waits fails with StoreError; the next works."""
    clock = FakeClock()
    await store.put_customer("acme", make_customer_config(), clock.now())
    async with await psycopg.AsyncConnection.connect(url) as locker:
        await locker.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
        blocked = asyncio.create_task(store.delete_customer("acme", clock.now()))
        await asyncio.sleep(0.3)
        assert not blocked.done()
        async with asyncio.timeout(10):
            assert await _terminate_store_backends(url) >= 1
            with pytest.raises(StoreError):
                await blocked
        await locker.rollback()
    assert await store.get_customer("acme") is not None
    assert await store.delete_customer("acme", clock.now()) is True
