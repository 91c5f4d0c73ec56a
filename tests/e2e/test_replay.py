"""Replaying failures from an operator's side, over real HTTPS: single and bulk retries,
tasks with progress, the time-window form, refusals, and pausing an endpoint by hand."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore
from tests.e2e.conftest import (
    Receiver,
    StartReceiver,
    StartTelepush,
    Telepush,
    oauth2_customer,
)
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e

GIVE_UP_AT_ONCE = {"delays": [], "thenEvery": None, "jitter": 0}
RETRY_EVERY_SECOND = {"delays": ["1s"], "thenEvery": "1s", "jitter": 0}


def _customer(rec: Receiver, retry: dict[str, Any]) -> dict[str, Any]:
    config = oauth2_customer(rec, services=("trip", "crash"))
    for service in config["services"].values():
        service["retry"] = retry
    return config


def _push_trips(tp: Telepush, prefix: str, n: int) -> list[str]:
    return [tp.push("acme", "trip", {"itinId": f"{prefix}-{i}"}) for i in range(n)]


def _wait_all(tp: Telepush, ids: list[str], status: str, timeout_s: float = 30) -> None:
    for delivery_id in ids:
        tp.wait_status(delivery_id, status, timeout_s=timeout_s)


def _task_done(tp: Telepush, task_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        resp = tp.call("GET", f"/v1/tasks/{task_id}")
        assert resp.status == 200, resp.body
        task: dict[str, Any] = resp.json()
        return task if task["status"] != "running" else None

    return wait_until(done, timeout_s=30, what=f"task {task_id} to finish")


def test_bulk_retry_requeues_every_failure_with_progress_and_they_get_delivered(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", _customer(rec, GIVE_UP_AT_ONCE))
    rec.fault("/push/trip", 500, times=None)
    failed = _push_trips(tp, "F", 25)
    _wait_all(tp, failed, "failed")

    rec.control("DELETE", "faults")
    resp = tp.call("POST", "/v1/customers/acme/push/trip/failed/retry")
    assert resp.status == 202, resp.body
    started = resp.json()
    assert started["nbItems"] == 25 and started["taskId"]

    task = _task_done(tp, started["taskId"])
    assert task["status"] == "done"
    assert (task["nbItems"], task["nbDone"], task["nbSkipped"]) == (25, 25, 0)
    assert task["progress"] == 1.0 and task["customerId"] == "acme" and task["service"] == "trip"
    _wait_all(tp, failed, "delivered")
    assert all(tp.delivery(d)["attemptCount"] == 2 for d in failed)
    delivered_ids = {
        r["headers"]["telepush-delivery-id"]
        for r in rec.requests()
        if r["path"] == "/push/trip" and r["status"] == 200
    }
    assert set(failed) <= delivered_ids

    listed = tp.call("GET", "/v1/tasks").json()["items"]
    assert started["taskId"] in [t["taskId"] for t in listed]

    # Nothing left to replay: a new task is allowed and has nothing to do.
    again = tp.call("POST", "/v1/customers/acme/push/trip/failed/retry").json()
    assert again["nbItems"] == 0
    assert _task_done(tp, again["taskId"])["status"] == "done"


def test_a_manual_retry_that_fails_is_not_rescheduled_by_policy(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", _customer(rec, GIVE_UP_AT_ONCE))
    rec.fault("/push/trip", 500, times=None)
    [delivery_id] = _push_trips(tp, "M", 1)
    tp.wait_status(delivery_id, "failed")

    # Now the policy would retry every second; a manual replay still gets one attempt only.
    tp.put_customer("acme", _customer(rec, RETRY_EVERY_SECOND))
    resp = tp.call("POST", f"/v1/deliveries/{delivery_id}/retry")
    assert resp.status == 200, resp.body
    assert resp.json()["status"] == "pending"
    wait_until(
        lambda: (d := tp.delivery(delivery_id))["status"] == "failed" and d["attemptCount"] == 2,
        timeout_s=20,
        what="the replayed delivery to fail again",
    )
    time.sleep(3)  # three policy intervals
    after = tp.delivery(delivery_id)
    assert after["status"] == "failed" and after["attemptCount"] == 2
    assert after["nextAttemptAt"] is None and len(after["attempts"]) == 2

    # Retrying a delivery that is not failed is refused, and so is an unknown one.
    rec.control("DELETE", "faults")
    tp.call("POST", f"/v1/deliveries/{delivery_id}/retry")
    tp.wait_status(delivery_id, "delivered")
    refused = tp.call("POST", f"/v1/deliveries/{delivery_id}/retry")
    assert refused.status == 409 and "only a failed delivery" in refused.json()["error"]["message"]
    assert tp.call("POST", "/v1/deliveries/no-such-id/retry").status == 404


def test_time_window_form_replays_only_failures_in_the_window(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", _customer(rec, GIVE_UP_AT_ONCE))
    rec.fault("/push/trip", 500, times=None)
    early = _push_trips(tp, "E", 5)
    _wait_all(tp, early, "failed")
    time.sleep(1.1)
    window_start = datetime.now(UTC)
    late = _push_trips(tp, "L", 7)
    _wait_all(tp, late, "failed")
    window_end = datetime.now(UTC)

    rec.control("DELETE", "faults")
    body = {"from": window_start.isoformat(), "to": window_end.isoformat()}
    started = tp.call("POST", "/v1/customers/acme/push/trip/failed/retry", body).json()
    assert started["nbItems"] == 7
    task = _task_done(tp, started["taskId"])
    assert task["failedFrom"] is not None and task["nbDone"] == 7
    _wait_all(tp, late, "delivered")
    assert all(tp.delivery(d)["status"] == "failed" for d in early)


def test_bulk_retry_refusals(start_receiver: StartReceiver, start_telepush: StartTelepush) -> None:
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", _customer(rec, GIVE_UP_AT_ONCE))
    rec.fault("/push/trip", 500, times=None)
    _wait_all(tp, _push_trips(tp, "R", 2), "failed")

    def error(method: str, path: str, body: Any = None, headers: Any = None) -> tuple[int, dict]:
        resp = tp.call(method, path, body, headers)
        return resp.status, resp.json()["error"]

    base = "/v1/customers/acme/push/trip/failed/retry"
    status, err = error("POST", "/v1/customers/nobody/push/trip/failed/retry")
    assert status == 404 and "nobody" in err["message"]
    status, err = error("POST", "/v1/customers/acme/push/teleport/failed/retry")
    assert status in (400, 404, 422) and "teleport" in err["message"]
    status, err = error("POST", "/v1/customers/acme/push/diagnosis/failed/retry")
    assert status == 404 and "diagnosis" in err["message"]
    status, err = error("POST", base, b"{not json")
    assert status == 400 and err["code"] == "invalid_json"
    status, err = error("POST", base, {"from": "yesterday"})
    assert status == 422 and err["field"] == "from"
    status, err = error(
        "POST", base, {"from": "2026-11-25T00:00:00Z", "to": "2026-11-24T00:00:00Z"}
    )
    assert status == 422 and "before" in err["message"]
    status, err = error("POST", base, {"from": "2026-11-25T00:00:00"})
    assert status == 422 and "time zone" in err["message"]
    status, err = error("POST", base, {"since": "2026-11-25T00:00:00Z"})
    assert status == 422 and err["field"] == "since"
    status, err = error("GET", "/v1/tasks/no-such-task")
    assert status == 404 and "no-such-task" in err["message"]
    for method, path in (
        ("POST", base),
        ("GET", "/v1/tasks/x"),
        ("GET", "/v1/tasks"),
        ("GET", "/v1/endpoints"),
        ("POST", "/v1/customers/acme/push/trip/pause"),
        ("POST", "/v1/customers/acme/push/trip/resume"),
        ("GET", "/v1/stats/history"),
    ):
        assert tp.call(method, path, headers={"Authorization": ""}).status == 401, path

    # A task left running for the same endpoint (as by another process): 409 naming it.
    running = asyncio.run(_start_task_directly(tp))
    status, err = error("POST", base)
    assert status == 409 and err["code"] == "conflict" and running in err["message"]
    # Another service of the same customer is not blocked.
    assert tp.call("POST", "/v1/customers/acme/push/crash/failed/retry").status == 202


async def _start_task_directly(tp: Telepush) -> str:
    """Start (and not advance) a task in telepush's own SQLite file."""
    key = (tp.data_dir / "secret.key").read_bytes().strip()
    store = SQLiteStore(tp.data_dir / "telepush.db", SecretBox(key))
    await store.open()
    try:
        task = await store.start_retry_task("held-task", "acme", "trip", datetime.now(UTC))
        return task.task_id
    finally:
        await store.close()


def test_pause_by_hand_holds_deliveries_without_attempts_and_resume_drains_in_order(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush(per_endpoint_concurrency=1)  # one at a time: arrival order shows
    tp.put_customer("acme", _customer(rec, RETRY_EVERY_SECOND))
    resp = tp.call("POST", "/v1/customers/acme/push/trip/pause")
    assert resp.status == 200, resp.body
    assert resp.json()["paused"] == "manual"

    held = _push_trips(tp, "P", 12)
    crash = tp.push("acme", "crash", {"crashId": "C-1"})
    tp.wait_status(crash, "delivered")  # another service of the customer keeps going
    time.sleep(1.5)
    assert all(tp.delivery(d)["attemptCount"] == 0 for d in held)
    health = tp.call("GET", "/v1/endpoints?customer=acme").json()
    trip = next(e for e in health["items"] if e["service"] == "trip")
    assert trip["paused"] == "manual" and trip["pending"] == 12

    resumed = tp.call("POST", "/v1/customers/acme/push/trip/resume").json()
    assert resumed["paused"] is None
    _wait_all(tp, held, "delivered")
    order = [
        r["headers"]["telepush-delivery-id"] for r in rec.requests() if r["path"] == "/push/trip"
    ]
    assert [d for d in order if d in set(held)] == held

    assert tp.call("POST", "/v1/customers/acme/push/nothing/pause").status in (400, 404, 422)
    assert tp.call("POST", "/v1/customers/ghost/push/trip/pause").status == 404
    one = tp.call("GET", "/v1/customers/acme/push/trip/health")
    assert one.status == 200 and one.json()["delivered"] >= 12
    assert one.json()["latencyMs"]["p50"] is not None


def test_history_has_per_minute_figures_and_depth_samples(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", _customer(rec, GIVE_UP_AT_ONCE))
    _wait_all(tp, _push_trips(tp, "H", 6), "delivered")
    history = tp.call("GET", "/v1/stats/history?minutes=5").json()
    assert sum(m["delivered"] for m in history["minutes"]) == 6
    assert history["depth"] and set(history["depth"][-1]) >= {"at", "pending", "delivered"}
    assert tp.call("GET", "/v1/stats/history?minutes=0").status == 422
    assert tp.call("GET", "/v1/endpoints?windowMinutes=999999").status == 422
