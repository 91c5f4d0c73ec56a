"""SQLite migrations: step by step equals schema.sql; moving payloads keeps them and erasure."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from telepush.domain.delivery import Status
from telepush.store import sqlite_schema
from telepush.store.migrations import Migration, sql_directory
from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore
from telepush.testing import FakeClock, make_customer_config
from tests.contract.backends import sqlite_schema_of

BOX = SecretBox(SecretBox.generate_key())

# Deliveries as a database at 0003 holds them: the payload in the delivery row.
_OLD_ROW = """
INSERT INTO deliveries (delivery_id, customer_id, service, key, payload, status, due_at,
                        attempt_count, created_at, updated_at)
VALUES (?, 'acme', 'trip', ?, ?, ?, ?, 0, ?, ?)
"""


def _migrate(path: Path, known: Sequence[Migration]) -> list[str]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        applied = sqlite_schema.migrate(conn, known)
        conn.execute("COMMIT")
    return applied


def test_migrating_one_step_at_a_time_yields_the_declared_schema(tmp_path: Path) -> None:
    """A database brought up one migration per run ends exactly like schema.sql."""
    path = tmp_path / "t.db"
    known = sqlite_schema.sqlite_migrations()
    applied = [name for step in range(1, len(known) + 1) for name in _migrate(path, known[:step])]
    assert applied == [m.name for m in known]
    with closing(sqlite3.connect(path)) as live, closing(sqlite3.connect(":memory:")) as declared:
        declared.executescript(sql_directory("sqlite").joinpath("schema.sql").read_text("utf-8"))
        assert sqlite_schema_of(live) == sqlite_schema_of(declared)


async def test_payloads_migration_keeps_queued_payloads(tmp_path: Path) -> None:
    """Payloads queued before 0004_payloads are claimed intact after it; erased ones stay gone."""
    path = tmp_path / "t.db"
    known = sqlite_schema.sqlite_migrations()
    before = [m for m in known if m.name < "0004"]
    _migrate(path, before)
    clock = FakeClock()
    now_s = clock.now().timestamp()
    store = SQLiteStore(path, BOX)
    await store.open()
    try:
        await store.put_customer("acme", make_customer_config(), clock.now())
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(_OLD_ROW, ("kept", "T-1", b'{"kept":1}', "pending", now_s, now_s, now_s))
            conn.execute(_OLD_ROW, ("gone", "T-2", None, "superseded", None, now_s, now_s))
        assert await store.migrate() == [m.name for m in known if m.name >= "0004"]
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("SELECT count(*) FROM payloads").fetchone() == (1,)
        claimed = await store.claim(
            now=clock.now(), worker_id="w", lease_s=60, per_endpoint_limit=10, limit=10
        )
        assert [(c.delivery_id, c.payload) for c in claimed] == [("kept", b'{"kept":1}')]
        gone = await store.get_delivery("gone")
        assert gone is not None and gone.status is Status.SUPERSEDED
    finally:
        await store.close()
