"""The receiver kit and telepush together: what an integrator relies on."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import StartReceiver, StartTelepush, oauth2_customer
from tests.support.procs import Process, telepush_cmd, wait_until

pytestmark = pytest.mark.e2e
TRIP = {"itinId": "trip-1", "userId": "u-1"}


def test_storage_failure_answers_500_and_is_redelivered(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """When the receiver cannot store it answers 500; telepush retries; one copy is kept."""
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", oauth2_customer(rec))
    rec.control("POST", "fail-storage", {"times": 1})
    done = tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
    assert [a["statusCode"] for a in done["attempts"]] == [500, 200]
    stats = rec.get("/stats")
    assert stats["stored"]["trip"] == 1


def test_redelivery_after_a_timeout_is_stored_once(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A reply slower than telepush's timeout makes telepush send again with the same
    delivery id; the receiver, which had committed the first copy, keeps one."""
    rec = start_receiver()
    tp = start_telepush(total_timeout_s=1, connect_timeout_s=1, lease_s=5)
    config = oauth2_customer(rec)
    config["services"]["trip"]["retry"] = {"delays": ["3s"], "jitter": 0}
    tp.put_customer("acme", config)
    rec.fault("/push/trip", None, times=1, delayS=2)  # answers normally, but too late
    delivery_id = tp.push("acme", "trip", TRIP)
    done = tp.wait_status(delivery_id, "delivered")
    assert [a["error"] for a in done["attempts"]] == ["timeout", None]
    receipts = rec.get(f"/receipts?deliveryId={delivery_id}")
    items = receipts["items"] if isinstance(receipts, dict) else receipts
    assert len(items) == 2 and sum(bool(r["duplicate"]) for r in items) == 1
    assert rec.get("/stats")["stored"]["trip"] == 1


def test_deletion_of_a_delivered_trip_is_replicated(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A deletion that follows a delivered trip removes the receiver's copy."""
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", oauth2_customer(rec))
    tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
    assert rec.get("/trips/trip-1")["itinId"] == "trip-1"
    deletion = {
        "itinId": "trip-1",
        "event": "TRIP_DELETION",
        "date": "2025-01-30T07:23:22.000+0000",
    }
    tp.wait_status(tp.push("acme", "deleted-trip", deletion), "delivered")
    assert rec.get("/stats")["stored"]["trip"] == 0


def test_separate_worker_process_delivers(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """`telepush serve --no-worker` accepts; a separate `telepush worker` on the same
    database delivers, shows in GET /v1/workers by its heartbeat, and leaves on SIGTERM."""
    rec = start_receiver()
    tp = start_telepush()  # its own worker delivers too; stop it to prove the other one works
    tp.proc.stop()
    api = Process(telepush_cmd("serve", "--no-worker"), tp.env, tp.data_dir / "api.log").start()
    worker = Process(telepush_cmd("worker"), tp.env, tp.data_dir / "worker.log").start()
    try:
        wait_until(lambda: _up(tp), what="the API to answer")
        tp.put_customer("acme", oauth2_customer(rec))
        done = tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
        assert done["attempts"][0]["statusCode"] == 200
        [beat] = tp.call("GET", "/v1/workers").json()["items"]
        assert beat["alive"] is True and beat["pid"] == worker.proc.pid  # type: ignore[union-attr]
        assert worker.stop() == 0
        assert tp.call("GET", "/v1/workers").json()["items"] == []  # said goodbye
    finally:
        api.stop()
        worker.stop()


def _up(tp: object) -> bool:
    try:
        return tp.call("GET", "/healthz").status == 200  # type: ignore[attr-defined, no-any-return]
    except OSError:
        return False
