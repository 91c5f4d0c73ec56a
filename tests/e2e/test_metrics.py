"""Metrics and delivery logs of real processes delivering over real HTTPS.

- ``telepush serve``: /metrics (behind the API token) counts what was accepted, delivered,
  retried, failed and replayed, per customer and service, and reads the queue from the store.
- ``telepush worker`` with ``TELEPUSH_METRICS_PORT``: its own metrics on that port.
- ``TELEPUSH_LOG_JSON``: one JSON object per stderr line, each delivery outcome with its
  fields, never the payload or a secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import (
    API_TOKEN,
    CLIENT_SECRET,
    Receiver,
    StartReceiver,
    StartTelepush,
    Telepush,
    oauth2_customer,
)
from tests.support.procs import Process, free_port, request, telepush_cmd, wait_until

pytestmark = pytest.mark.e2e

GIVE_UP_AFTER_TWO = {"delays": ["1s"], "thenEvery": None, "jitter": 0}
STATUSES = ("pending", "sending", "delivered", "failed", "superseded")


def trip(**fields: Any) -> dict[str, Any]:
    return {"itinId": f"trip-{uuid.uuid4().hex[:10]}", "firstname": "Ada", **fields}


class Scrape:
    """One scrape, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in self.families.values()
            for s in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when absent (a child never observed)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self.samples.items() if n == name)


def scrape(tp: Telepush) -> Scrape:
    resp = tp.call("GET", "/metrics")
    assert resp.status == 200, resp.body[:300]
    assert resp.headers["content-type"].startswith("text/plain")
    return Scrape(resp.body.decode())


def customer_giving_up(receiver: Receiver) -> dict[str, Any]:
    config = oauth2_customer(receiver, services=("trip",))
    config["services"]["trip"]["retry"] = GIVE_UP_AFTER_TWO
    return config


def test_metrics_count_deliveries_per_customer_and_service(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """5 trips to a healthy endpoint (single, idempotent, batch), 3 to one answering 500 (two
    attempts each, then failed) and one of those replayed: /metrics tells exactly that."""
    healthy, broken = start_receiver("healthy"), start_receiver("broken")
    broken.fault("/push/trip", 500, times=None)
    tp = start_telepush()
    tp.put_customer("good", oauth2_customer(healthy, services=("trip",)))
    tp.put_customer("bad", customer_giving_up(broken))

    good = [tp.push("good", "trip", trip()) for _ in range(2)]
    once = tp.push("good", "trip", trip(), {"Idempotency-Key": "k-1"})
    assert tp.push("good", "trip", trip(), {"Idempotency-Key": "k-1"}) == once  # duplicate
    resp = tp.call("POST", "/v1/customers/good/push/trip/batch", [trip(), trip()])
    assert resp.status == 202, resp.body
    good += [once] + [item["deliveryId"] for item in resp.json()["items"]]
    bad = [tp.push("bad", "trip", trip()) for _ in range(3)]
    for delivery_id in good:
        tp.wait_status(delivery_id, "delivered")
    for delivery_id in bad:
        assert len(tp.wait_status(delivery_id, "failed")["attempts"]) == 2
    assert tp.call("POST", f"/v1/deliveries/{bad[0]}/retry").status == 200
    wait_until(
        lambda: (d := tp.delivery(bad[0]))["status"] == "failed" and len(d["attempts"]) == 3,
        what="the replayed delivery to fail again",
    )

    m = scrape(tp)
    good_trip = {"customer": "good", "service": "trip"}
    bad_trip = {"customer": "bad", "service": "trip"}
    assert m("telepush_ingested_total", **good_trip) == 5
    assert m("telepush_ingested_total", **bad_trip) == 3
    assert m("telepush_delivered_total", **good_trip) == 5
    assert m("telepush_delivered_total", **bad_trip) == 0
    assert m("telepush_attempts_total", **good_trip, result="ok") == 5
    assert m("telepush_attempts_total", **bad_trip, result="http_status") == 7
    assert m("telepush_attempts_total", **bad_trip, result="ok") == 0
    assert m("telepush_retried_total", **bad_trip) == 3
    assert m("telepush_failed_total", **bad_trip) == 4  # 3, then the replay failed again
    assert m("telepush_replayed_total", **bad_trip) == 1
    assert m("telepush_failed_total", **good_trip) == 0
    delivered = m.total("telepush_delivered_total")
    assert m("telepush_delivery_latency_seconds_count", service="trip") == delivered == 5
    latency_sum = m("telepush_delivery_latency_seconds_sum", service="trip")
    assert 0 < latency_sum < 5 * 30
    assert m("telepush_attempt_duration_seconds_count", service="trip") == 12
    assert m("telepush_token_fetches_total", customer="good", result="ok") >= 1
    assert m("telepush_token_fetches_total", customer="bad", result="ok") >= 1
    assert m.total("telepush_token_fetches_total") >= 2
    # gauges, read from the store at scrape time
    assert {s: m("telepush_queue_depth", status=s) for s in STATUSES} == {
        "pending": 0,
        "sending": 0,
        "delivered": 5,
        "failed": 3,
        "superseded": 0,
    }
    assert m("telepush_paused_endpoints") == 0
    assert m("telepush_workers_alive") == 1
    # the route is behind the API token like every other
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        assert tp.call("GET", "/metrics", headers=headers).status == 401


def test_worker_process_serves_its_metrics_on_metrics_port(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """`telepush worker` with TELEPUSH_METRICS_PORT: its deliveries and the queue gauges on
    that port; the API process counts what it accepted."""
    rec = start_receiver()
    tp = start_telepush()
    tp.proc.stop()  # an API-only process and a worker-only one instead
    port = free_port()
    api = Process(telepush_cmd("serve", "--no-worker"), tp.env, tp.data_dir / "api.log").start()
    worker = Process(
        telepush_cmd("worker"),
        {**tp.env, "TELEPUSH_METRICS_PORT": str(port)},
        tp.data_dir / "worker.log",
    ).start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(lambda: _answers(tp.url + "/healthz", api), what="the API to answer")
        wait_until(lambda: _answers(url, worker), what="the worker's metrics to answer")
        tp.put_customer("acme", oauth2_customer(rec, services=("trip",)))
        for delivery_id in [tp.push("acme", "trip", trip()) for _ in range(2)]:
            tp.wait_status(delivery_id, "delivered")

        m = Scrape(request("GET", url).body.decode())
        assert m("telepush_delivered_total", customer="acme", service="trip") == 2
        assert m("telepush_attempts_total", customer="acme", service="trip", result="ok") == 2
        assert m("telepush_token_fetches_total", customer="acme", result="ok") == 1
        assert m("telepush_ingested_total", customer="acme", service="trip") == 0
        # refreshed at start (then every 15 s): every status is there
        depth = m.families["telepush_queue_depth"]
        assert {s.labels["status"] for s in depth.samples} == set(STATUSES)
        assert "telepush_workers_alive" in m.families

        on_api = scrape(tp)
        assert on_api("telepush_ingested_total", customer="acme", service="trip") == 2
        assert on_api("telepush_delivered_total", customer="acme", service="trip") == 0
        assert worker.stop() == 0
    finally:
        api.stop()
        worker.stop()


@pytest.fixture
def json_logged(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by the test, stopped (SIGTERM) at the end if still running."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


def test_delivery_log_lines_are_json_without_payload_or_secrets(
    start_receiver: StartReceiver,
    start_telepush: StartTelepush,
    json_logged: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """With TELEPUSH_LOG_JSON and debug level, every stderr line is one JSON object; each
    attempt's outcome line carries the delivery's fields; the payload, the client secret, the
    API token and bearer tokens appear nowhere."""
    rec = start_receiver()
    tp = start_telepush("logs")
    tp.proc.stop()  # the same settings, but stderr (the log) kept apart from stdout
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    env = {**os.environ, **tp.env, "TELEPUSH_LOG_JSON": "true", "TELEPUSH_LOG_LEVEL": "debug"}
    with out.open("wb") as out_fh, err.open("wb") as err_fh:
        proc = subprocess.Popen(telepush_cmd("serve"), env=env, stdout=out_fh, stderr=err_fh)
    json_logged.append(proc)
    wait_until(lambda: _answers(tp.url + "/healthz", None), what="telepush to answer")
    marker = f"MARKER-{uuid.uuid4().hex}"
    tp.put_customer("acme", oauth2_customer(rec, services=("trip",)))
    rec.fault("/push/trip", 503, times=1)
    delivery_id = tp.push("acme", "trip", trip(firstname=marker, lastname=marker))
    tp.wait_status(delivery_id, "delivered")
    proc.terminate()
    assert proc.wait(20) == 0

    text = err.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all(isinstance(entry, dict) for entry in lines)
    assert all({"at", "level", "logger", "message"} <= entry.keys() for entry in lines)
    outcomes = [e for e in lines if e.get("delivery_id") == delivery_id and "outcome" in e]
    fields = ("customer_id", "service", "attempt", "outcome", "status_code", "error")
    assert [tuple(e[f] for f in fields) for e in outcomes] == [
        ("acme", "trip", 1, "pending", 503, "http_status"),
        ("acme", "trip", 2, "delivered", 200, None),
    ]
    assert [e["level"] for e in outcomes] == ["info", "debug"]
    assert all(isinstance(e["duration_ms"], int) and e["duration_ms"] >= 0 for e in outcomes)
    everything = text + out.read_text()
    for secret in (marker, CLIENT_SECRET, API_TOKEN, "Bearer ", "Basic "):
        assert secret not in everything, secret


def _answers(url: str, proc: Process | None) -> bool:
    if proc is not None and not proc.alive():
        raise AssertionError(f"process exited early:\n{proc.log()[-3000:]}")
    try:
        return request("GET", url, timeout_s=2).status == 200
    except OSError:
        return False
