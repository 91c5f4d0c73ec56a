"""Nothing accepted is lost when telepush is killed with SIGKILL mid-delivery."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import StartReceiver, StartTelepush, oauth2_customer
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e
EVENTS = 300


def test_kill_9_mid_delivery_then_restart_delivers_everything(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """kill -9 of `telepush serve` while it delivers; after a restart on the same data
    directory every accepted event reaches the receiver (checked by delivery id)."""
    rec = start_receiver()
    rec.fault("*", None, times=None, delayS=0.02)  # a slowish endpoint: the kill lands mid-run
    first = start_telepush("first", per_endpoint_concurrency=8)
    first.put_customer("acme", oauth2_customer(rec))
    accepted: list[str] = []
    for batch in range(3):
        docs = [{"itinId": f"trip-{batch}-{i}"} for i in range(EVENTS // 3)]
        resp = first.call("POST", "/v1/customers/acme/push/trip/batch", docs)
        assert resp.status == 202
        accepted += [item["deliveryId"] for item in resp.json()["items"]]

    def delivered_ids() -> set[str]:
        return {
            r["headers"]["telepush-delivery-id"]
            for r in rec.requests()
            if r["path"] == "/push/trip" and r["status"] == 200
        }

    wait_until(lambda: len(delivered_ids()) >= 30, what="some deliveries before the kill")
    first.proc.kill9()
    assert len(delivered_ids()) < EVENTS, "the kill came too late to prove anything"

    second = start_telepush("second", data_dir=first.data_dir, per_endpoint_concurrency=8)
    wait_until(
        lambda: delivered_ids() >= set(accepted),
        timeout_s=60,
        what="every accepted event to reach the receiver",
    )
    wait_until(
        lambda: (
            len(second.call("GET", "/v1/deliveries?status=delivered&limit=1000").json()["items"])
            == EVENTS
        ),
        what="every delivery recorded as delivered",
    )
    assert len(rec.get("/trips")["items"]) == EVENTS
