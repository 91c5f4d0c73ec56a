"""The circuit breaker end to end: a failing endpoint is paused, probed, and resumed.

telepush runs with ``TELEPUSH_BREAKER_FAILURES=3`` and a probe every second, one delivery in
flight per endpoint (so the receiver's log shows the order of sending). The endpoint's state
is read from telepush's SQLite file, as the health API is not part of this test.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import StartReceiver, StartTelepush, Telepush, oauth2_customer
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e


def _endpoint(tp: Telepush, service: str = "trip") -> dict[str, Any]:
    path: Path = tp.data_dir / "telepush.db"
    with closing(sqlite3.connect(path, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT paused, paused_at, probe_at, consecutive_failures FROM endpoints"
            " WHERE customer_id = 'acme' AND service = ?",
            (service,),
        ).fetchone()
    assert row is not None
    return dict(row)


def _trip_pushes(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if r["path"] == "/push/trip"]


def test_failing_endpoint_is_paused_probed_and_resumed_in_arrival_order(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush(breaker_failures=3, breaker_probe_interval_s=1, per_endpoint_concurrency=1)
    tp.put_customer("acme", oauth2_customer(rec))  # retries every second
    rec.fault("/push/trip", 500, times=None)  # until cleared

    first = [tp.push("acme", "trip", {"itinId": f"early-{n}"}) for n in range(3)]
    opened = wait_until(
        lambda: (e := _endpoint(tp))["paused"] == "breaker" and e, what="the breaker to open"
    )
    assert opened["paused_at"] is not None and opened["consecutive_failures"] >= 3
    crash = tp.push("acme", "crash", {"crashId": "c-1", "crashStatus": "CONFIRMED"})
    tp.wait_status(crash, "delivered")  # the other endpoints of the customer still run

    later = [tp.push("acme", "trip", {"itinId": f"late-{n}"}) for n in range(6)]
    sent_before = len(_trip_pushes(rec.requests()))
    time.sleep(3.2)
    probes = len(_trip_pushes(rec.requests())) - sent_before
    # Without the breaker: 9 deliveries retried every second. With it: one probe a second.
    assert probes <= 4, probes
    untouched = [d for d in later if not tp.delivery(d)["attempts"]]
    assert len(untouched) >= 3, [len(tp.delivery(d)["attempts"]) for d in later]
    assert _endpoint(tp)["paused"] == "breaker"

    rec.control("DELETE", "faults")
    for delivery_id in first + later:
        tp.wait_status(delivery_id, "delivered", timeout_s=30)
    closed = _endpoint(tp)
    assert (closed["paused"], closed["probe_at"], closed["consecutive_failures"]) == (
        None,
        None,
        0,
    )

    # Deliveries that waited unsent went once each, in the order they arrived.
    accepted = [
        r["headers"]["telepush-delivery-id"]
        for r in _trip_pushes(rec.requests())
        if r["status"] == 200
    ]
    once = [d for d in later if len(tp.delivery(d)["attempts"]) == 1]
    assert len(once) >= 3
    assert [d for d in accepted if d in once] == once
    assert sorted(accepted) == sorted(first + later)  # each accepted exactly once
