"""Durable, idempotent storage: what a 200 guarantees, duplicates, upserts and deletions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from telepush.receiver import ReceiverThread
from telepush.synth import Synth, to_bytes
from tests.unit.receiver.conftest import Api, StartReceiver


def rows(api: Api, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Read the receiver's SQLite file from a separate connection."""
    with sqlite3.connect(Path(api.settings.database)) as conn:
        return conn.execute(sql, args).fetchall()


async def test_row_is_committed_before_the_200(api: Api) -> None:
    """Right after a 200, another connection to the SQLite file finds the document."""
    bearer = await api.bearer()
    synth = Synth(10)
    for index in range(20):
        body = to_bytes(synth.crash(crash_id=f"c{index}"))
        reply = await api.push("crash", body, bearer, delivery_id=f"d{index}")
        assert reply.status == 200
        found = rows(api, "SELECT body FROM crashes WHERE crash_id = ?", f"c{index}")
        assert found == [(body,)]


async def test_database_uses_wal_journal(api: Api) -> None:
    """The SQLite file is in WAL mode."""
    await api.push("crash", to_bytes(Synth(1).crash()), await api.bearer())
    assert rows(api, "PRAGMA journal_mode") == [("wal",)]


async def test_redelivery_with_same_delivery_id_is_stored_once(api: Api) -> None:
    """The same delivery id sent three times is acknowledged each time but stored once."""
    bearer = await api.bearer()
    body = to_bytes(Synth(11).diagnosis("u-1"))
    outcomes = []
    for attempt in (1, 2, 3):
        reply = await api.push("diagnosis", body, bearer, delivery_id="dup-1", attempt=attempt)
        assert reply.status == 200
        outcomes.append(reply.json()["duplicate"])
    assert outcomes == [False, True, True]
    assert rows(api, "SELECT count(*) FROM diagnoses") == [(1,)]
    receipts = rows(api, "SELECT delivery_id, attempt, duplicate FROM receipts ORDER BY id")
    assert receipts == [("dup-1", "1", 0), ("dup-1", "2", 1), ("dup-1", "3", 1)]


async def test_same_key_and_same_body_from_another_delivery_is_a_duplicate(api: Api) -> None:
    """The same trip under a new delivery id is not stored a second time."""
    bearer = await api.bearer()
    body = to_bytes(Synth(12).trip(itin_id="t", points=10))
    await api.push("trip", body, bearer, delivery_id="a")
    reply = await api.push("trip", body, bearer, delivery_id="b")
    assert reply.json()["duplicate"] is True
    assert rows(api, "SELECT versions FROM trips") == [(1,)]


async def test_concurrent_redeliveries_store_one_copy(api: Api) -> None:
    """Ten concurrent pushes of one delivery leave exactly one stored row and one receipt."""
    bearer = await api.bearer()
    body = to_bytes(Synth(13).crash(crash_id="same"))
    replies = await asyncio.gather(
        *(api.push("crash", body, bearer, delivery_id="one") for _ in range(10))
    )
    assert {reply.status for reply in replies} == {200}
    assert sum(1 for reply in replies if not reply.json()["duplicate"]) == 1
    assert rows(api, "SELECT count(*) FROM crashes") == [(1,)]
    assert rows(api, "SELECT count(*) FROM receipts WHERE duplicate = 0") == [(1,)]


async def test_trip_is_upserted_by_itin_id(api: Api) -> None:
    """A new version of a trip replaces the stored one."""
    bearer = await api.bearer()
    synth = Synth(14)
    first = to_bytes(synth.trip(itin_id="T1", points=10))
    second = to_bytes(synth.trip(itin_id="T1", points=20))
    assert (await api.push("trip", first, bearer, delivery_id="1")).json()["outcome"] == "stored"
    assert (await api.push("trip", second, bearer, delivery_id="2")).json()["outcome"] == "updated"
    assert (await api.get("/trips/T1", bearer)).body == second
    assert rows(api, "SELECT count(*), max(versions) FROM trips") == [(1, 2)]


async def test_deletion_removes_the_trip_and_its_crash_reports(api: Api) -> None:
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
    assert rows(api, "SELECT count(*) FROM trips") == [(0,)]
    assert rows(api, "SELECT count(*) FROM crash_reports") == [(0,)]
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


async def test_storage_failure_answers_500_then_redelivery_succeeds(api: Api) -> None:
    """An injected storage failure gives 500 and stores nothing; the retry gets 200."""
    bearer = await api.bearer()
    body = to_bytes(Synth(20).crash(crash_id="cf"))
    await api.control("POST", "/fail-storage", {"times": 2})
    assert (await api.push("crash", body, bearer, delivery_id="f", attempt=1)).status == 500
    assert (await api.push("crash", body, bearer, delivery_id="f", attempt=2)).status == 500
    assert rows(api, "SELECT count(*) FROM crashes") == [(0,)]
    reply = await api.push("crash", body, bearer, delivery_id="f", attempt=3)
    assert reply.status == 200
    assert reply.json()["duplicate"] is False
    assert rows(api, "SELECT attempt FROM receipts") == [("3",)]


async def test_raw_bytes_are_kept_exactly(api: Api) -> None:
    """Whitespace, key order and unknown fields of the body survive storage untouched."""
    bearer = await api.bearer()
    body = b'{ "newProviderField": {"x": [1, 2.50]},\n  "itinId": "raw-1" }'
    assert (await api.push("trip", body, bearer, delivery_id="raw")).status == 200
    assert (await api.get("/trips/raw-1", bearer)).body == body
    assert rows(api, "SELECT body FROM trips") == [(body,)]


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
