"""WAL checkpoints run on the store's checkpoint thread, not inside the writer's commits."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from telepush.store.secrets import SecretBox
from telepush.store.sqlite import PAGE_SIZE, SQLiteStore
from telepush.store.sqlite_retention import _checkpoint_truncate
from telepush.testing import FakeClock, make_customer_config, make_payload, new_delivery


def _sizes(path: Path) -> tuple[int, int]:
    """Bytes of the database file and of its WAL. Committed pages sit in the WAL until a
    checkpoint copies them into the database file."""
    return path.stat().st_size, Path(f"{path}-wal").stat().st_size


async def test_the_checkpoint_thread_copies_the_wal_back(tmp_path: Path) -> None:
    """Commits grow the WAL past SQLite's default automatic checkpoint (1,000 pages); the
    writer leaves it (its own is a backstop far above) and the checkpoint thread copies
    every frame back within a moment."""
    path = tmp_path / "ckpt.db"
    store = SQLiteStore(path, SecretBox(SecretBox.generate_key()))
    store._checkpointer._interval_s = 3600  # held back while the WAL grows
    await store.open()
    try:
        await store.migrate()
        await store.put_customer("acme", make_customer_config(), FakeClock().now())
        body = make_payload("trip", firstname="x" * 4000)
        for _ in range(40):
            await store.enqueue([new_delivery("acme", "trip", body) for _ in range(100)])
        with closing(sqlite3.connect(path)) as conn:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        assert page_size == PAGE_SIZE  # a new file
        db, wal = _sizes(path)
        assert wal > 1000 * page_size and db < 2 * 1024 * 1024  # no commit checkpointed
        await asyncio.to_thread(store._checkpointer.stop)
        store._checkpointer._interval_s = 0.05
        store._checkpointer.start()
        for _ in range(100):
            if store._checkpointer.checkpoints:
                break
            await asyncio.sleep(0.05)
        assert store._checkpointer.checkpoints >= 1
        db_after, _ = _sizes(path)
        assert db_after > 16 * 1024 * 1024  # the 4,000 documents of ~4 KB are in the file
    finally:
        await store.close()


class _BusyThen:
    """Stands in for a connection whose TRUNCATE checkpoint meets another checkpoint
    (raised as 'database is locked', or reported busy) ``busy`` times, then completes."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls = 0

    def execute(self, sql: str) -> _BusyThen:
        assert sql == "PRAGMA wal_checkpoint(TRUNCATE)"
        self.calls += 1
        if self.calls == 1 and self.busy:
            raise sqlite3.OperationalError("database is locked")
        self._row = (1, -1, -1) if self.calls <= self.busy else (0, 0, 0)
        return self

    def fetchone(self) -> tuple[int, int, int]:
        return self._row


def test_compaction_waits_for_a_running_checkpoint() -> None:
    """retention's TRUNCATE checkpoint is tried again while the checkpoint thread holds the
    checkpoint lock, and completes once it is free."""
    conn = _BusyThen(busy=3)
    assert _checkpoint_truncate(conn, busy_timeout_ms=5000) is False  # type: ignore[arg-type]
    assert conn.calls == 4


def test_compaction_gives_up_at_the_busy_timeout() -> None:
    conn = _BusyThen(busy=10_000)
    assert _checkpoint_truncate(conn, busy_timeout_ms=100) is True  # type: ignore[arg-type]
    assert 2 <= conn.calls < 100
