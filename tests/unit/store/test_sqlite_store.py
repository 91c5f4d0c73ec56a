"""What is particular to the SQLite store: the file, its pragmas, sharing it, erasure."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from telepush.domain.delivery import Attempt, ErrorKind, Outcome, Status
from telepush.errors import ConfigError, StoreError
from telepush.store.base import Store
from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore
from telepush.testing import FakeClock, make_customer_config, make_payload, new_delivery

BOX = SecretBox(SecretBox.generate_key())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "t.db", BOX)
    await opened.open()
    await opened.migrate()
    yield opened
    await opened.close()


def _file_bytes(path: Path) -> bytes:
    return path.read_bytes()


async def test_sqlite_store_satisfies_the_protocol(store: SQLiteStore) -> None:
    """SQLiteStore is a Store."""
    assert isinstance(store, Store)


async def test_database_is_in_wal_mode(store: SQLiteStore) -> None:
    """The file is switched to write-ahead logging, seen from another connection."""
    with closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    """A synchronous mode SQLite does not know is a ConfigError, before any I/O."""
    with pytest.raises(ConfigError, match="synchronous"):
        SQLiteStore(tmp_path / "t.db", BOX, synchronous="SOMETIMES")


async def test_unopened_store_refuses_work(tmp_path: Path) -> None:
    """Calls before ``open`` raise StoreError instead of hanging."""
    with pytest.raises(StoreError, match="not open"):
        await SQLiteStore(tmp_path / "t.db", BOX).count_by_status()


async def test_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    """A path in a missing directory fails ``open`` with StoreError."""
    with pytest.raises(StoreError, match="cannot open"):
        await SQLiteStore(tmp_path / "missing" / "t.db", BOX).open()


async def test_naive_datetime_is_refused(store: SQLiteStore) -> None:
    """Times must be aware UTC datetimes."""
    with pytest.raises(ValueError, match="aware"):
        await store.retry_delivery("x", datetime(2025, 1, 1))


async def test_two_stores_share_one_file(tmp_path: Path) -> None:
    """Two stores (as two processes would) write the same file at once without errors."""
    stores = [SQLiteStore(tmp_path / "shared.db", BOX) for _ in range(2)]
    for each in stores:
        await each.open()
    try:
        await stores[0].migrate()
        await stores[0].put_customer("acme", make_customer_config(), FakeClock().now())
        calls = [each.enqueue([new_delivery("acme", "trip")]) for _ in range(50) for each in stores]
        await asyncio.gather(*calls)
        for each in stores:
            assert (await each.count_by_status())[Status.PENDING] == 100
    finally:
        for each in stores:
            await each.close()


async def test_erased_payloads_are_gone_from_the_file(tmp_path: Path) -> None:
    """After a deletion supersedes a trip and the store closes, its bytes are not in the file."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path, BOX)
    await store.open()
    await store.migrate()
    clock = FakeClock()
    await store.put_customer("acme", make_customer_config(), clock.now())
    erased = make_payload("trip", itinId="T-1", lastname="Erased-Marker-5b1e")
    kept = make_payload("trip", itinId="T-2", lastname="Kept-Marker-77c0")
    await store.enqueue([new_delivery("acme", "trip", erased), new_delivery("acme", "trip", kept)])
    await store.enqueue(
        [new_delivery("acme", "deleted-trip", make_payload("deleted-trip", itinId="T-1"))]
    )
    await store.close()
    raw = await asyncio.to_thread(_file_bytes, path)
    assert b"Kept-Marker-77c0" in raw
    assert b"Erased-Marker-5b1e" not in raw


async def test_erased_large_payload_is_gone_from_the_file(tmp_path: Path) -> None:
    """A payload spread over overflow pages is overwritten too when it is erased."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path, BOX)
    await store.open()
    await store.migrate()
    clock = FakeClock()
    await store.put_customer("acme", make_customer_config(), clock.now())
    marker = "Large-Erased-Marker-c41d"
    erased = make_payload("trip", itinId="T-1", notes=[marker] * 20_000)  # about 500 KB
    await store.enqueue([new_delivery("acme", "trip", erased)])
    await store.delete_customer("acme", clock.now())
    await store.close()
    raw = await asyncio.to_thread(_file_bytes, path)
    assert marker.encode() not in raw


async def test_prefetch_leases_more_only_for_an_endpoint_without_a_failure_streak(
    store: SQLiteStore,
) -> None:
    """claim(prefetch=N) leases up to N beyond per_endpoint_limit while the endpoint's last
    attempt succeeded; after a failure, only the limit counts until a success."""
    clock = FakeClock()
    await store.put_customer("acme", make_customer_config(), clock.now())
    await store.enqueue([new_delivery("acme", "trip", created_at=clock.now()) for _ in range(10)])

    async def claim() -> list[str]:
        got = await store.claim(
            now=clock.now(), worker_id="w", lease_s=60, per_endpoint_limit=2, limit=10, prefetch=2
        )
        return [c.delivery_id for c in got]

    async def record(delivery_id: str, ok: bool) -> None:
        error = None if ok else ErrorKind.HTTP_STATUS
        attempt = Attempt(1, clock.now(), 200 if ok else 500, error, 3)
        status, due = (Status.DELIVERED, None) if ok else (Status.PENDING, clock.now())
        outcome = Outcome(delivery_id, attempt, status, due, customer_id="acme", service="trip")
        await store.record([outcome], worker_id="w")

    first = await claim()
    assert len(first) == 4  # 2 + 2 ahead
    await record(first[0], ok=False)  # a failure streak: no more claiming ahead
    assert await claim() == []  # 3 leases live, limit 2
    await record(first[1], ok=True)  # the streak ends; 2 leases live
    assert len(await claim()) == 2


async def test_temporary_storage_is_in_memory(store: SQLiteStore) -> None:
    """No temporary file is created and deleted per transaction (decision 0009)."""
    mode = await store._writer.run(
        lambda conn: conn.execute("PRAGMA temp_store").fetchone()[0], write=False
    )
    assert mode == 2  # MEMORY
