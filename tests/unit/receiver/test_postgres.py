"""A receiver storing in PostgreSQL: commit before 200, lost connections, shared databases.

The storage rules themselves run on PostgreSQL too (``database`` in ``test_storage``); these
are what only a server database has: connections that drop, and several receivers on one
database. Each test gets a scratch database (skipped without a server, failing under CI).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from telepush.receiver import ReceiverThread
from telepush.receiver.dialect import Connection
from telepush.receiver.pg import APPLICATION_NAME
from telepush.receiver.storage import dialect_for
from telepush.receiver.writer import GroupCommitWriter
from telepush.synth import Synth, to_bytes
from tests.support import pg
from tests.unit.receiver.conftest import Api, StartReceiver

ApiFor = Callable[[ReceiverThread], Api]


def receiver_backends(url: str, where: str = "TRUE") -> int:
    """Connections the receiver holds on the database of ``url`` matching ``where``."""
    rows = pg.query(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        f" AND application_name = %s AND pid <> pg_backend_pid() AND {where}",
        (APPLICATION_NAME,),
    )
    return int(rows[0][0])


def terminate_receiver_backends(url: str) -> int:
    """``pg_terminate_backend`` on every connection of the receiver; how many there were."""
    rows = pg.query(
        url,
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s"
        " AND pid <> pg_backend_pid()",
        (APPLICATION_NAME,),
    )
    return int(rows[0][0])


async def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_push_is_in_postgresql_before_the_200(
    postgres_url: str, start_receiver: StartReceiver, api_for: ApiFor
) -> None:
    """The schema exists once started; after each 200 a new psycopg connection finds the row."""
    api = api_for(start_receiver(database=postgres_url))
    tables = pg.query(
        postgres_url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " ORDER BY table_name",
    )
    assert [name for (name,) in tables] == [
        "crash_reports",
        "crashes",
        "deletions",
        "diagnoses",
        "receipts",
        "trips",
    ]
    bearer = await api.bearer()
    synth = Synth(60)
    for index in range(10):
        body = to_bytes(synth.trip(itin_id=f"pg-{index}", points=5))
        reply = await api.push("trip", body, bearer, delivery_id=f"d{index}")
        assert reply.status == 200
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            row = conn.execute("SELECT body FROM trips WHERE itin_id = %s", (f"pg-{index}",))
            assert row.fetchall() == [(body,)]


async def test_connection_lost_while_storing_answers_500_then_reconnects(
    postgres_url: str, start_receiver: StartReceiver, api_for: ApiFor
) -> None:
    """A push whose connection is killed mid-transaction gets 500; its redelivery gets 200."""
    api = api_for(start_receiver(database=postgres_url))
    bearer = await api.bearer()
    body = to_bytes(Synth(61).crash(crash_id="lost"))
    with psycopg.connect(postgres_url) as locker:
        locker.execute("LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE")
        pending = asyncio.create_task(api.push("crash", body, bearer, delivery_id="lost"))
        await wait_for(
            lambda: receiver_backends(postgres_url, "wait_event_type = 'Lock'") == 1,
            "the receiver to wait for the lock",
        )
        assert terminate_receiver_backends(postgres_url) >= 1
        locker.rollback()
    assert (await pending).status == 500
    again = await api.push("crash", body, bearer, delivery_id="lost", attempt=2)
    assert (again.status, again.json()["duplicate"]) == (200, False)
    assert (await api.get("/crashes/lost", bearer)).body == body
    assert pg.query(postgres_url, "SELECT attempt FROM receipts") == [("2",)]


async def test_connections_killed_while_idle_are_replaced_without_a_failure(
    postgres_url: str, start_receiver: StartReceiver, api_for: ApiFor
) -> None:
    """After pg_terminate_backend on idle connections, the next push and read just work."""
    api = api_for(start_receiver(database=postgres_url))
    bearer = await api.bearer()
    synth = Synth(62)
    assert (await api.push("crash", to_bytes(synth.crash(crash_id="a")), bearer)).status == 200
    assert (await api.get("/crashes/a", bearer)).status == 200  # opens the reader
    assert terminate_receiver_backends(postgres_url) == 2  # the writer and the reader
    body = to_bytes(synth.crash(crash_id="b"))
    assert (await api.push("crash", body, bearer, delivery_id="b")).status == 200
    assert (await api.get("/crashes/b", bearer)).body == body
    assert receiver_backends(postgres_url) == 2


async def test_writer_replaces_a_connection_that_died_in_a_job(postgres_url: str) -> None:
    """A job whose connection dies fails; the next job runs on a new connection."""
    writer = GroupCommitWriter(dialect_for(postgres_url).open)

    def backend(conn: Connection) -> Any:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]

    def dies(conn: Connection) -> None:
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    try:
        before = await writer.submit(backend)
        with pytest.raises(psycopg.OperationalError):
            await writer.submit(dies)
        assert await writer.submit(backend) != before
    finally:
        writer.close()


async def test_two_receivers_on_one_database_store_a_delivery_once(
    postgres_url: str, start_receiver: StartReceiver, api_for: ApiFor
) -> None:
    """Concurrent redeliveries to two receivers sharing a database leave a single copy."""
    receivers = [api_for(start_receiver(database=postgres_url)) for _ in range(2)]
    bearers = [await api.bearer() for api in receivers]
    body = to_bytes(Synth(63).diagnosis("u-shared"))
    replies = await asyncio.gather(
        *(
            api.push("diagnosis", body, bearer, delivery_id="shared")
            for api, bearer in zip(receivers * 5, bearers * 5, strict=True)
        )
    )
    assert {reply.status for reply in replies} == {200}
    assert sum(1 for reply in replies if not reply.json()["duplicate"]) == 1
    assert pg.query(postgres_url, "SELECT count(*) FROM diagnoses") == [(1,)]
    assert pg.query(postgres_url, "SELECT count(*) FROM receipts") == [(10,)]
