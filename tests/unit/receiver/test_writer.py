"""The group-commit writer: durable before success, isolated failures, batched commits.

Every test runs on each database the receiver stores in (``database``: SQLite, PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from telepush.receiver.dialect import Connection
from telepush.receiver.storage import dialect_for
from telepush.receiver.writer import GroupCommitWriter, WriterClosed
from tests.unit.receiver.conftest import Database


def make(database: Database) -> GroupCommitWriter:
    dialect = dialect_for(database.target)

    def open_db() -> Connection:
        conn = dialect.open()
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER PRIMARY KEY)")
        return conn

    return GroupCommitWriter(open_db)


async def test_concurrent_jobs_share_commits_and_failures_stay_isolated(
    database: Database,
) -> None:
    """200 concurrent inserts need fewer commits than jobs; a failing job fails alone."""
    writer = make(database)
    writer.start()

    def insert(value: int) -> Callable[[Connection], int]:
        def job(conn: Connection) -> int:
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
    assert database.rows("SELECT count(*) FROM t") == [(199,)]


async def test_a_failed_statement_is_rolled_back_alone(database: Database) -> None:
    """A job whose statement fails (a duplicate key) leaves its batch usable and committed."""
    writer = make(database)

    def insert(value: int) -> Callable[[Connection], None]:
        def job(conn: Connection) -> None:
            conn.execute("INSERT INTO t VALUES (?)", (value,))

        return job

    results = await asyncio.gather(
        *(writer.submit(insert(v)) for v in (1, 2, 1, 3)), return_exceptions=True
    )
    writer.close()
    assert [isinstance(r, database.error) for r in results] == [False, False, True, False]
    assert database.rows("SELECT v FROM t ORDER BY v") == [(1,), (2,), (3,)]


async def test_transaction_errors_are_reported_and_close_is_final(database: Database) -> None:
    """A transaction error is reported to the caller; a closed writer accepts nothing more."""
    writer = make(database)

    def breaks(conn: Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("COMMIT")  # ends the transaction under the writer's feet

    with pytest.raises(database.error):
        await writer.submit(breaks)
    writer.close()
    with pytest.raises(WriterClosed):
        await writer.submit(breaks)
