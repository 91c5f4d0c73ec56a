"""Erasure is physical on SQLite: after purge (or a customer's deletion) and compaction, the
erased bytes are nowhere in the database's files — not in the .db file, its free pages, nor
the -wal and -shm files. Each test first checks the marker bytes WERE in the files, so it
cannot pass by looking in the wrong place."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from telepush.domain.delivery import Attempt, ErrorKind, NewDelivery, Outcome, Status
from telepush.domain.retention import RetentionPolicy
from telepush.services import SERVICE_NAMES
from telepush.store.sqlite import SQLiteStore
from telepush.testing import FakeClock, make_customer_config, make_payload, new_delivery
from tests.support.stores import migrated_sqlite

# Deliveries can only be queued for a customer that exists.
pytestmark = pytest.mark.usefixtures("customer")

ERASED = b"ERASE-ME-7f3a9c2e"  # in payloads that retention erases
KEPT = b"KEEP-ME-41b8d0aa"  # in a pending payload, which retention never touches
CUSTOMER = "acme"


def raw(db: Path) -> bytes:
    """The .db file and every companion (-wal, -shm, -journal) as they are on disk now."""
    files = sorted(db.parent.glob(db.name + "*"))
    assert db in files
    return b"".join(path.read_bytes() for path in files)


def payload(marker: bytes, size: int) -> bytes:
    """A trip document holding ``marker``, padded to about ``size`` bytes."""
    return make_payload("trip", firstname=marker.decode(), note="x" * size)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with migrated_sqlite(tmp_path / "telepush.db") as opened:
        yield opened


async def enqueue(store: SQLiteStore, clock: FakeClock, customer: str, body: bytes) -> str:
    item: NewDelivery = new_delivery(customer, "trip", body, created_at=clock.now(), key="k")
    [result] = await store.enqueue([item])
    return result.delivery_id


async def finish_all(store: SQLiteStore, clock: FakeClock) -> list[str]:
    """Claim everything due; deliver every other one, fail the rest (policy exhausted)."""
    claimed = await store.claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=10_000, limit=10_000
    )
    outcomes = []
    for i, c in enumerate(claimed):
        ok = i % 2 == 0
        attempt = Attempt(
            c.attempt_number,
            clock.now(),
            200 if ok else 503,
            None if ok else ErrorKind.HTTP_STATUS,
            3,
        )
        status = Status.DELIVERED if ok else Status.FAILED
        outcomes.append(
            Outcome(c.delivery_id, attempt, status, customer_id=c.customer_id, service=c.service)
        )
    await store.record(outcomes, worker_id="w1")
    return [c.delivery_id for c in claimed]


@pytest.mark.parametrize("size", [200, 6000])  # in-page cells, and overflow pages
async def test_purged_payloads_leave_no_bytes_in_the_files(
    store: SQLiteStore, tmp_path: Path, size: int
) -> None:
    clock = FakeClock()
    db = tmp_path / "telepush.db"
    await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    for _ in range(120):
        await enqueue(store, clock, CUSTOMER, payload(ERASED, size))
    finished = await finish_all(store, clock)
    assert len(finished) == 120
    idle = make_customer_config(disabled=SERVICE_NAMES)
    await store.put_customer("nobody", idle, clock.now())
    await enqueue(store, clock, "nobody", payload(KEPT, size))  # disabled: never claimed
    assert ERASED in raw(db) and KEPT in raw(db)

    clock.advance(timedelta(days=31).total_seconds())
    result = await store.purge(RetentionPolicy().cutoffs(clock.now()), chunk=25)
    assert result.payloads_erased == 120
    await store.compact()

    assert _pages(db)[1] > 0  # freed pages exist...
    on_disk = raw(db)
    assert ERASED not in on_disk  # ...and hold nothing of what was erased
    assert KEPT in on_disk
    assert (tmp_path / "telepush.db-wal").stat().st_size == 0

    await store.close()
    assert ERASED not in raw(db)
    assert KEPT in raw(db)
    await store.open()


async def test_a_deleted_customer_leaves_no_bytes_in_the_files(
    store: SQLiteStore, tmp_path: Path
) -> None:
    """Its configuration, encrypted secret, shared token and payloads are all gone."""
    clock = FakeClock()
    db = tmp_path / "telepush.db"
    name = "Victim Corp NAME-MARK-93e1"
    config = make_customer_config(name=name, secret="client-secret-SECRET-MARK-5d0c")
    victim, _ = await store.put_customer("victim", config, clock.now())
    await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    await store.put_token(
        "victim", victim.revision, "TOKEN-MARK-aa77", clock.now() + timedelta(hours=1)
    )
    for i in range(60):
        await enqueue(store, clock, "victim", payload(ERASED, 300 + 100 * i))
    await finish_all(store, clock)
    for _ in range(20):
        await enqueue(store, clock, "victim", payload(ERASED, 500))  # left pending
    await enqueue(store, clock, CUSTOMER, payload(KEPT, 500))  # another customer's
    with closing(sqlite3.connect(db)) as conn:
        [(secret,)] = conn.execute("SELECT secret FROM customers WHERE customer_id = 'victim'")
        [(token,)] = conn.execute("SELECT token_ciphertext FROM oauth_tokens")
    before = raw(db)
    for marker in (ERASED, KEPT, name.encode(), bytes(secret), bytes(token)):
        assert marker in before, marker

    assert await store.delete_customer("victim", clock.now())
    await store.compact()

    after = raw(db)
    for marker in (ERASED, name.encode(), bytes(secret), bytes(token)):
        assert marker not in after, marker
    assert KEPT in after
    await store.close()
    for marker in (ERASED, name.encode(), bytes(secret), bytes(token)):
        assert marker not in raw(db), marker
    await store.open()


async def test_full_compaction_rebuilds_the_file_without_erased_bytes(
    store: SQLiteStore, tmp_path: Path
) -> None:
    clock = FakeClock()
    db = tmp_path / "telepush.db"
    await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    for _ in range(50):
        await enqueue(store, clock, CUSTOMER, payload(ERASED, 3000))
    await finish_all(store, clock)
    clock.advance(timedelta(days=31).total_seconds())
    await store.purge(RetentionPolicy().cutoffs(clock.now()))
    assert _pages(db)[1] > 0  # free pages, before
    await store.compact(full=True)
    assert ERASED not in raw(db)
    assert _pages(db)[1] == 0  # VACUUM dropped them: a smaller file
    assert (tmp_path / "telepush.db-wal").stat().st_size == 0


def _pages(db: Path) -> tuple[int, int]:
    """(pages in the database, of which free)."""
    with closing(sqlite3.connect(db)) as conn:
        return (
            conn.execute("PRAGMA page_count").fetchone()[0],
            conn.execute("PRAGMA freelist_count").fetchone()[0],
        )
