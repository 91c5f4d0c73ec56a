"""Durable, idempotent storage: what a 200 guarantees, duplicates, upserts and deletions.

Every test runs on each database the receiver stores in (``database``: SQLite, PostgreSQL)
and checks what was stored from a connection of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing

import pytest

from telepush.receiver import ReceiverThread
from telepush.synth import Synth, to_bytes
from tests.unit.receiver.conftest import Api, Database, StartReceiver


@pytest.fixture
def api(database_api: Api) -> Api:
    """A client of a receiver storing in ``database``."""
    return database_api


async def test_row_is_committed_before_the_200(api: Api, database: Database) -> None:
    """Right after a 200, another connection to the database finds the document."""
    bearer = await api.bearer()
    synth = Synth(10)
    for index in range(20):
        body = to_bytes(synth.crash(crash_id=f"c{index}"))
        reply = await api.push("crash", body, bearer, delivery_id=f"d{index}")
        assert reply.status == 200
        found = database.rows("SELECT body FROM crashes WHERE crash_id = ?", f"c{index}")
        assert found == [(body,)]


async def test_sqlite_file_uses_wal_journal(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """The SQLite file is in WAL mode."""
    api = api_for(start_receiver())
    await api.push("crash", to_bytes(Synth(1).crash()), await api.bearer())
    with closing(sqlite3.connect(api.settings.database)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]


async def test_redelivery_with_same_delivery_id_is_stored_once(
    api: Api, database: Database
) -> None:
    """The same delivery id sent three times is acknowledged each time but stored once."""
    bearer = await api.bearer()
    body = to_bytes(Synth(11).diagnosis("u-1"))
    outcomes = []
    for attempt in (1, 2, 3):
        reply = await api.push("diagnosis", body, bearer, delivery_id="dup-1", attempt=attempt)
        assert reply.status == 200
        outcomes.append(reply.json()["duplicate"])
    assert outcomes == [False, True, True]
    assert database.rows("SELECT count(*) FROM diagnoses") == [(1,)]
    receipts = database.rows("SELECT delivery_id, attempt, duplicate FROM receipts ORDER BY id")
    assert receipts == [("dup-1", "1", 0), ("dup-1", "2", 1), ("dup-1", "3", 1)]


async def test_same_key_and_same_body_from_another_delivery_is_a_duplicate(
    api: Api, database: Database
) -> None:
    """The same trip under a new delivery id is not stored a second time."""
    bearer = await api.bearer()
    body = to_bytes(Synth(12).trip(itin_id="t", points=10))
    await api.push("trip", body, bearer, delivery_id="a")
    reply = await api.push("trip", body, bearer, delivery_id="b")
    assert reply.json()["duplicate"] is True
    assert database.rows("SELECT versions FROM trips") == [(1,)]


async def test_concurrent_redeliveries_store_one_copy(api: Api, database: Database) -> None:
    """Ten concurrent pushes of one delivery leave exactly one stored row and one receipt."""
    bearer = await api.bearer()
    body = to_bytes(Synth(13).crash(crash_id="same"))
    replies = await asyncio.gather(
        *(api.push("crash", body, bearer, delivery_id="one") for _ in range(10))
    )
    assert {reply.status for reply in replies} == {200}
    assert sum(1 for reply in replies if not reply.json()["duplicate"]) == 1
    assert database.rows("SELECT count(*) FROM crashes") == [(1,)]
    assert database.rows("SELECT count(*) FROM receipts WHERE duplicate = 0") == [(1,)]


async def test_trip_is_upserted_by_itin_id(api: Api, database: Database) -> None:
    """A new version of a trip replaces the stored one."""
    bearer = await api.bearer()
    synth = Synth(14)
    first = to_bytes(synth.trip(itin_id="T1", points=10))
    second = to_bytes(synth.trip(itin_id="T1", points=20))
    assert (await api.push("trip", first, bearer, delivery_id="1")).json()["outcome"] == "stored"
    assert (await api.push("trip", second, bearer, delivery_id="2")).json()["outcome"] == "updated"
    assert (await api.get("/trips/T1", bearer)).body == second
    assert database.rows("SELECT count(*), max(versions) FROM trips") == [(1, 2)]


async def test_deletion_removes_the_trip_and_its_crash_reports(
    api: Api, database: Database
) -> None:
    """A deletion erases the stored trip and the crash reports linked to it, and is recorded."""
    bearer = await api.bearer()
    synth = Synth(15)
    await api.push("trip", to_bytes(synth.trip(itin_id="T2", points=10)), bearer, delivery_id="1")
    report = to_bytes(synth.crash_report(report_id="R1", itin_id="T2"))
    await api.push("crash-report", report, bearer, delivery_id="2")
    deletion = await api.push(
        "deleted-trip", to_bytes(synth.deleted_trip("T2")), bearer, delivery_id="3"
    )
    assert deletion.status == 200
    assert deletion.json()["outcome"] == "deleted"
    gone = await api.get("/trips/T2", bearer)
    assert gone.status == 404
    assert gone.json()["error"]["code"] == "deleted"
    assert database.rows("SELECT count(*) FROM trips") == [(0,)]
    assert database.rows("SELECT count(*) FROM crash_reports") == [(0,)]
    deletions = (await api.get("/deletions", bearer)).json()["items"]
    assert [(d["itinId"], d["tripWasStored"]) for d in deletions] == [("T2", True)]


async def test_deletion_of_a_never_received_trip_is_recorded(api: Api) -> None:
    """A deletion for an unknown trip gets 200 and is recorded."""
    bearer = await api.bearer()
    reply = await api.push("deleted-trip", to_bytes(Synth(16).deleted_trip("never")), bearer)
    assert reply.status == 200
    assert reply.json()["outcome"] == "recorded"
    deletions = (await api.get("/deletions", bearer)).json()["items"]
    assert [(d["itinId"], d["tripWasStored"]) for d in deletions] == [("never", False)]


async def test_trip_arriving_after_its_deletion_is_not_resurrected(api: Api) -> None:
    """A trip whose itinId was already deleted is acknowledged but not stored."""
    bearer = await api.bearer()
    synth = Synth(17)
    await api.push("deleted-trip", to_bytes(synth.deleted_trip("late")), bearer, delivery_id="1")
    reply = await api.push("trip", to_bytes(synth.trip(itin_id="late")), bearer, delivery_id="2")
    assert reply.status == 200
    assert reply.json()["outcome"] == "discarded"
    assert (await api.get("/trips/late", bearer)).status == 404


async def test_repeated_deletion_keeps_that_the_trip_was_stored(api: Api) -> None:
    """A second, different deletion of a stored trip is recorded; tripWasStored stays true."""
    bearer = await api.bearer()
    synth = Synth(22)
    await api.push("trip", to_bytes(synth.trip(itin_id="T3", points=5)), bearer, delivery_id="1")
    first = to_bytes(synth.deleted_trip("T3", date="2024-01-01T00:00:00Z"))
    second = to_bytes(synth.deleted_trip("T3", date="2024-01-02T00:00:00Z"))
    assert (await api.push("deleted-trip", first, bearer, delivery_id="2")).json()["outcome"] == (
        "deleted"
    )
    again = await api.push("deleted-trip", second, bearer, delivery_id="3")
    assert (again.json()["outcome"], again.json()["duplicate"]) == ("recorded", False)
    same = await api.push("deleted-trip", second, bearer, delivery_id="4")
    assert same.json()["duplicate"] is True
    deletions = (await api.get("/deletions", bearer)).json()["items"]
    assert [(d["itinId"], d["date"], d["tripWasStored"]) for d in deletions] == [
        ("T3", "2024-01-02T00:00:00Z", True)
    ]


async def test_crash_is_upserted_by_crash_id(api: Api, database: Database) -> None:
    """A new version of a crash replaces the stored one; the same body again is a duplicate."""
    bearer = await api.bearer()
    synth = Synth(23)
    first, second = (to_bytes(synth.crash(crash_id="C1")) for _ in range(2))
    assert first != second
    assert (await api.push("crash", first, bearer, delivery_id="1")).json()["outcome"] == "stored"
    assert (await api.push("crash", second, bearer, delivery_id="2")).json()["outcome"] == (
        "updated"
    )
    assert (await api.push("crash", second, bearer, delivery_id="3")).json()["duplicate"] is True
    assert (await api.get("/crashes/C1", bearer)).body == second
    assert database.rows("SELECT count(*), max(versions) FROM crashes") == [(1, 2)]


async def test_crash_report_of_a_deleted_trip_is_discarded(api: Api, database: Database) -> None:
    """A crash report arriving after its trip's deletion is acknowledged but not stored."""
    bearer = await api.bearer()
    synth = Synth(24)
    await api.push("deleted-trip", to_bytes(synth.deleted_trip("T4")), bearer, delivery_id="1")
    report = to_bytes(synth.crash_report(report_id="R4", itin_id="T4"))
    reply = await api.push("crash-report", report, bearer, delivery_id="2")
    assert (reply.status, reply.json()["outcome"]) == (200, "discarded")
    assert database.rows("SELECT count(*) FROM crash_reports") == [(0,)]
    receipts = database.rows("SELECT service, outcome FROM receipts ORDER BY id")
    assert receipts == [("deleted-trip", "recorded"), ("crash-report", "discarded")]


async def test_empty_diagnosis_is_recorded_as_a_heartbeat(api: Api) -> None:
    """A diagnosis with no events is stored, flagged empty, alongside the others."""
    bearer = await api.bearer()
    synth = Synth(18)
    await api.push("diagnosis", to_bytes(synth.diagnosis("u9")), bearer, delivery_id="1")
    await api.push(
        "diagnosis", to_bytes(synth.diagnosis("u9", empty=True)), bearer, delivery_id="2"
    )
    await api.push("diagnosis", to_bytes(synth.diagnosis("other")), bearer, delivery_id="3")
    items = (await api.get("/diagnoses?userId=u9", bearer)).json()["items"]
    assert [item["empty"] for item in items] == [False, True]
    assert items[1]["document"]["events"] == []


async def test_crash_report_without_report_id_is_keyed_by_delivery_id(api: Api) -> None:
    """A crash report without info.reportId is stored under its delivery id."""
    bearer = await api.bearer()
    doc = Synth(19).crash_report()
    del doc["info"]["reportId"]
    reply = await api.push("crash-report", to_bytes(doc), bearer, delivery_id="dl-77")
    assert reply.json()["key"] == "dl-77"
    items = (await api.get("/crash-reports", bearer)).json()["items"]
    assert [item["reportId"] for item in items] == ["dl-77"]


async def test_storage_failure_answers_500_then_redelivery_succeeds(
    api: Api, database: Database
) -> None:
    """An injected storage failure gives 500 and stores nothing; the retry gets 200."""
    bearer = await api.bearer()
    body = to_bytes(Synth(20).crash(crash_id="cf"))
    await api.control("POST", "/fail-storage", {"times": 2})
    assert (await api.push("crash", body, bearer, delivery_id="f", attempt=1)).status == 500
    assert (await api.push("crash", body, bearer, delivery_id="f", attempt=2)).status == 500
    assert database.rows("SELECT count(*) FROM crashes") == [(0,)]
    reply = await api.push("crash", body, bearer, delivery_id="f", attempt=3)
    assert reply.status == 200
    assert reply.json()["duplicate"] is False
    assert database.rows("SELECT attempt FROM receipts") == [("3",)]


async def test_raw_bytes_are_kept_exactly(api: Api, database: Database) -> None:
    """Whitespace, key order and unknown fields of the body survive storage untouched."""
    bearer = await api.bearer()
    body = b'{ "newProviderField": {"x": [1, 2.50]},\n  "itinId": "raw-1" }'
    assert (await api.push("trip", body, bearer, delivery_id="raw")).status == 200
    assert (await api.get("/trips/raw-1", bearer)).body == body
    assert database.rows("SELECT body FROM trips") == [(body,)]


async def test_data_survives_a_restart(
    api: Api, start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """A new receiver on the same file serves what the first one stored."""
    bearer = await api.bearer()
    body = to_bytes(Synth(21).trip(itin_id="keep", points=5))
    await api.push("trip", body, bearer, delivery_id="k")
    await asyncio.to_thread(api.server.stop)
    again = api_for(start_receiver(database=api.settings.database))
    assert (await again.get("/trips/keep", await again.bearer())).body == body
