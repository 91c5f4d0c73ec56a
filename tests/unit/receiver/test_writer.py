"""The group-commit writer: durable before success, isolated failures, batched commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from telepush.receiver.storage import connect
from telepush.receiver.writer import GroupCommitWriter, WriterClosed


def make(path: Path) -> GroupCommitWriter:
    def open_db() -> sqlite3.Connection:
        conn = connect(path)
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER PRIMARY KEY)")
        return conn

    return GroupCommitWriter(open_db)


async def test_concurrent_jobs_share_commits_and_failures_stay_isolated(tmp_path: Path) -> None:
    """200 concurrent inserts need fewer commits than jobs; a failing job fails alone."""
    writer = make(tmp_path / "w.db")
    writer.start()

    def insert(value: int) -> Callable[[sqlite3.Connection], int]:
        def job(conn: sqlite3.Connection) -> int:
            if value == 13:
                raise RuntimeError("unlucky")
            conn.execute("INSERT INTO t VALUES (?)", (value,))
            return value

        return job

    results = await asyncio.gather(
        *(writer.submit(insert(v)) for v in range(200)),
        return_exceptions=True,
    )
    writer.close()
    assert [r for r in results if isinstance(r, Exception)][0].args == ("unlucky",)
    assert sum(1 for r in results if isinstance(r, int)) == 199
    assert writer.commits < 200
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (199,)


async def test_transaction_errors_are_reported_and_close_is_final(tmp_path: Path) -> None:
    """A transaction error is reported to the caller; a closed writer accepts nothing more."""
    writer = make(tmp_path / "w.db")

    def breaks(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("COMMIT")  # ends the transaction under the writer's feet

    with pytest.raises(sqlite3.Error):
        await writer.submit(breaks)
    writer.close()
    with pytest.raises(WriterClosed):
        await writer.submit(breaks)
