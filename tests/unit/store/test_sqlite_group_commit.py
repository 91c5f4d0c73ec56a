"""Group commit: concurrent jobs share one transaction; a failing job fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from telepush.domain.delivery import Status
from telepush.errors import StoreError
from telepush.store.sqlite import SQLiteStore
from telepush.store.sqlite_writer import SQLiteWriter
from telepush.testing import FakeClock, make_customer_config, new_delivery
from tests.support.stores import migrated_sqlite


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with migrated_sqlite(tmp_path / "t.db") as opened:
        # deliveries can only be queued for a customer that exists
        await opened.put_customer("acme", make_customer_config(), FakeClock().now())
        yield opened


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[SQLiteWriter]:
    def connect() -> sqlite3.Connection:
        return sqlite3.connect(tmp_path / "w.db", isolation_level=None)

    started = SQLiteWriter(connect)
    await started.start()
    await started.run(lambda conn: conn.execute("CREATE TABLE t (x INTEGER UNIQUE)"))
    yield started
    await started.stop()


def _insert(x: int, then: Callable[[], None] = lambda: None) -> Callable[[sqlite3.Connection], int]:
    def job(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (x) VALUES (?)", (x,))
        then()
        return x

    return job


async def _hold(writer: SQLiteWriter) -> tuple[asyncio.Task[object], threading.Event]:
    """Keep the writer thread busy until the returned event is set."""
    inside, release = threading.Event(), threading.Event()

    def block(conn: sqlite3.Connection) -> None:
        inside.set()
        release.wait(10)

    task: asyncio.Task[object] = asyncio.create_task(writer.run(block))
    await asyncio.to_thread(inside.wait, 10)
    return task, release


async def test_concurrent_enqueues_share_few_transactions(store: SQLiteStore) -> None:
    """200 concurrent enqueue calls all succeed in far fewer than 200 commits."""
    before = store.commit_count
    items = [new_delivery("acme", "trip") for _ in range(200)]
    results = await asyncio.gather(*(store.enqueue([item]) for item in items))
    assert [r.delivery_id for [r] in results] == [i.delivery_id for i in items]
    assert (await store.count_by_status())[Status.PENDING] == 200
    assert store.commit_count - before <= 10


async def test_failing_enqueue_does_not_lose_its_group(store: SQLiteStore) -> None:
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


async def test_jobs_waiting_together_commit_in_one_transaction(writer: SQLiteWriter) -> None:
    """Jobs queued while the thread is busy run as one group: one more commit, not five."""
    holder, release = await _hold(writer)
    before = writer.commit_count
    tasks = [asyncio.create_task(writer.run(_insert(x))) for x in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    assert await asyncio.gather(*tasks) == list(range(5))
    await holder
    assert writer.commit_count - before == 2  # the holder's group, then the five together


async def test_failing_job_rolls_back_alone(writer: SQLiteWriter) -> None:
    """In one group, the raising job's writes are undone and it gets its own exception."""

    def boom() -> None:
        raise RuntimeError("boom")

    holder, release = await _hold(writer)
    tasks = [
        asyncio.create_task(writer.run(_insert(1))),
        asyncio.create_task(writer.run(_insert(2, then=boom))),
        asyncio.create_task(writer.run(_insert(1))),  # UNIQUE violation
        asyncio.create_task(writer.run(_insert(3))),
    ]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await holder
    assert results[0] == 1 and results[3] == 3
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "boom"
    assert isinstance(results[2], StoreError)
    rows = await writer.run(lambda conn: conn.execute("SELECT x FROM t ORDER BY x").fetchall())
    assert rows == [(1,), (3,)]


async def test_read_only_group_takes_no_write_lock(writer: SQLiteWriter, tmp_path: Path) -> None:
    """A group of reads runs while another connection holds the write lock."""
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        count = await writer.run(
            lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0], write=False
        )
        assert count == 0
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_stop_finishes_submitted_jobs_then_refuses_new_ones(writer: SQLiteWriter) -> None:
    """Jobs submitted before stop complete; after stop the writer refuses work."""
    pending = [asyncio.create_task(writer.run(_insert(x))) for x in range(3)]
    await asyncio.sleep(0)
    await writer.stop()
    assert await asyncio.gather(*pending) == [0, 1, 2]
    with pytest.raises(StoreError, match="not open"):
        await writer.run(_insert(9))
