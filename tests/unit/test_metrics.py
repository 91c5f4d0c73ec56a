"""Metrics: each observation moves the right samples of the process-wide registry.

The registry is global to the test process, so every test uses its own customer id and
asserts differences, never absolute values of shared children (the per-service histograms).
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from telepush import metrics
from telepush.delivery.auth import TokenCache, TokenError, TokenReply
from telepush.domain.delivery import (
    Attempt,
    AttemptResult,
    Claimed,
    ErrorKind,
    Outcome,
    Status,
)
from telepush.errors import ConfigError
from telepush.operations import Operations
from telepush.runtime import start_metrics_server
from telepush.testing import make_customer_config, make_payload
from tests.support.stores import migrated_sqlite

T0 = datetime(2025, 1, 30, 7, 0, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    """A sample's value, 0 when it does not exist yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def customer() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def claimed(customer_id: str, service: str = "trip", attempt: int = 1) -> Claimed:
    return Claimed(
        delivery_id=str(uuid.uuid4()),
        customer_id=customer_id,
        service=service,
        key="k",
        payload=b"{}",
        created_at=T0,
        attempt_number=attempt,
        customer_revision=1,
    )


def outcome(item: Claimed, result: AttemptResult, status: Status, after_s: float) -> Outcome:
    at = T0 + timedelta(seconds=after_s)
    attempt = Attempt(item.attempt_number, at, result.status_code, result.error, 0)
    next_at = at + timedelta(minutes=1) if status is Status.PENDING else None
    return Outcome(
        item.delivery_id,
        attempt,
        status,
        next_attempt_at=next_at,
        customer_id=item.customer_id,
        service=item.service,
    )


def test_delivered_outcome_counts_attempt_delivery_and_latencies() -> None:
    """A 200: one 'ok' attempt, one delivery, latency from acceptance, attempt duration."""
    c = customer()
    labels = {"customer": c, "service": "crash"}
    latency_before = value("telepush_delivery_latency_seconds_count", service="crash")
    latency_sum_before = value("telepush_delivery_latency_seconds_sum", service="crash")
    le5_before = value("telepush_delivery_latency_seconds_bucket", service="crash", le="5.0")
    le1_before = value("telepush_delivery_latency_seconds_bucket", service="crash", le="1.0")
    duration_before = value("telepush_attempt_duration_seconds_sum", service="crash")
    item = claimed(c, "crash")
    result = AttemptResult(ok=True, status_code=200, duration_ms=123)

    metrics.observe_outcome(item, result, outcome(item, result, Status.DELIVERED, 2.5))

    assert value("telepush_attempts_total", **labels, result="ok") == 1
    assert value("telepush_delivered_total", **labels) == 1
    assert value("telepush_failed_total", **labels) == 0
    assert value("telepush_retried_total", **labels) == 0
    assert value("telepush_delivery_latency_seconds_count", service="crash") == latency_before + 1
    assert value("telepush_delivery_latency_seconds_sum", service="crash") == pytest.approx(
        latency_sum_before + 2.5
    )
    le5 = value("telepush_delivery_latency_seconds_bucket", service="crash", le="5.0")
    le1 = value("telepush_delivery_latency_seconds_bucket", service="crash", le="1.0")
    assert (le5 - le5_before, le1 - le1_before) == (1, 0)
    assert value("telepush_attempt_duration_seconds_sum", service="crash") == pytest.approx(
        duration_before + 0.123
    )


def test_failed_attempts_count_by_error_kind_retried_or_failed() -> None:
    """A rescheduled failure counts as retried, a final one as failed; attempts by kind."""
    c = customer()
    labels = {"customer": c, "service": "trip"}
    latency_before = value("telepush_delivery_latency_seconds_count", service="trip")
    http = AttemptResult(ok=False, status_code=500, error=ErrorKind.HTTP_STATUS, duration_ms=5)
    timeout = AttemptResult(ok=False, error=ErrorKind.TIMEOUT, duration_ms=30000)
    first = claimed(c)
    metrics.observe_outcome(first, http, outcome(first, http, Status.PENDING, 1))
    second = claimed(c, attempt=2)
    metrics.observe_outcome(second, http, outcome(second, http, Status.PENDING, 61))
    last = claimed(c, attempt=3)
    metrics.observe_outcome(last, timeout, outcome(last, timeout, Status.FAILED, 400))

    assert value("telepush_attempts_total", **labels, result="http_status") == 2
    assert value("telepush_attempts_total", **labels, result="timeout") == 1
    assert value("telepush_attempts_total", **labels, result="ok") == 0
    assert value("telepush_retried_total", **labels) == 2
    assert value("telepush_failed_total", **labels) == 1
    assert value("telepush_delivered_total", **labels) == 0
    assert value("telepush_delivery_latency_seconds_count", service="trip") == latency_before


def test_unsendable_counts_failed_without_an_attempt() -> None:
    c = customer()
    metrics.observe_unsendable(claimed(c))
    assert value("telepush_failed_total", customer=c, service="trip") == 1
    assert value("telepush_attempts_total", customer=c, service="trip", result="ok") == 0


def test_ingested_replayed_and_token_fetches() -> None:
    c = customer()
    metrics.observe_ingested(c, "diagnosis", 3)
    metrics.observe_ingested(c, "diagnosis", 0)
    metrics.observe_ingested(c, "diagnosis")
    metrics.observe_replayed(c, "diagnosis", 7)
    metrics.observe_token_fetch(c, ok=True)
    metrics.observe_token_fetch(c, ok=True)
    metrics.observe_token_fetch(c, ok=False)
    assert value("telepush_ingested_total", customer=c, service="diagnosis") == 4
    assert value("telepush_replayed_total", customer=c, service="diagnosis") == 7
    assert value("telepush_token_fetches_total", customer=c, result="ok") == 2
    assert value("telepush_token_fetches_total", customer=c, result="error") == 1


async def test_token_cache_counts_each_fetch_once() -> None:
    """Ten concurrent callers cause one fetch, counted once; a refused fetch is an error."""
    c = customer()
    cache = TokenCache()
    calls = 0

    async def fetch() -> TokenReply:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return TokenReply("tok", 3600)

    tokens = await asyncio.gather(*(cache.get((c, 1), fetch) for _ in range(10)))
    assert set(tokens) == {"tok"} and calls == 1
    assert value("telepush_token_fetches_total", customer=c, result="ok") == 1

    async def refused() -> TokenReply:
        raise TokenError("token endpoint answered HTTP 401")

    with pytest.raises(TokenError):
        await cache.get((c, 2), refused)
    assert value("telepush_token_fetches_total", customer=c, result="error") == 1
    assert value("telepush_token_fetches_total", customer=c, result="ok") == 1


async def test_gauges_are_set_and_a_failing_read_leaves_them() -> None:
    async def read() -> metrics.QueueGauges:
        return metrics.QueueGauges({"pending": 4, "failed": 2}, paused_endpoints=1, workers_alive=3)

    assert await metrics.refresh_from_store(read)
    assert value("telepush_queue_depth", status="pending") == 4
    assert value("telepush_queue_depth", status="failed") == 2
    assert value("telepush_paused_endpoints") == 1
    assert value("telepush_workers_alive") == 3

    async def broken() -> metrics.QueueGauges:
        raise OSError("database is gone")

    assert not await metrics.refresh_from_store(broken)
    assert value("telepush_queue_depth", status="pending") == 4


async def test_refresh_every_refreshes_at_once_and_stops() -> None:
    reads = 0

    async def read() -> metrics.QueueGauges:
        nonlocal reads
        reads += 1
        return metrics.QueueGauges({"sending": reads})

    stop = asyncio.Event()
    task = asyncio.create_task(metrics.refresh_every(read, stop, interval_s=0.01))
    while reads < 3:
        await asyncio.sleep(0.005)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert value("telepush_queue_depth", status="sending") >= 3


# ---- the operations' instrumented paths, on a real SQLite store -------------------------------


@pytest.fixture
async def ops(tmp_path: Path) -> AsyncIterator[Operations]:
    async with migrated_sqlite(tmp_path / "m.db") as store:
        yield Operations(store, max_body_bytes=1 << 20)


async def test_operations_count_accepted_documents_not_duplicates(ops: Operations) -> None:
    c = customer()
    await ops.put_customer(c, make_customer_config().with_secrets())
    await ops.push(c, "trip", make_payload("trip"))
    await ops.push(c, "trip", make_payload("trip"), idempotency_key="once")
    again = await ops.push(c, "trip", make_payload("trip"), idempotency_key="once")
    assert again.duplicate
    batch = b"\n".join([make_payload("trip"), b'{"no": "itinId"}', make_payload("trip")])
    results = await ops.push_batch(c, "trip", batch)
    assert [r.error is None for r in results] == [True, False, True]
    assert value("telepush_ingested_total", customer=c, service="trip") == 4


async def test_operations_count_a_manual_retry_as_replayed(ops: Operations) -> None:
    c = customer()
    await ops.put_customer(c, make_customer_config().with_secrets())
    accepted = await ops.push(c, "crash", make_payload("crash"))
    [item] = await ops.store.claim(
        now=ops.clock(), worker_id="w", lease_s=60, per_endpoint_limit=4, limit=10
    )
    attempt = Attempt(1, ops.clock(), 500, ErrorKind.HTTP_STATUS, 3)
    failed = Outcome(item.delivery_id, attempt, Status.FAILED, customer_id=c, service="crash")
    await ops.store.record([failed], worker_id="w")
    await ops.retry_delivery(accepted.delivery_id)
    assert value("telepush_replayed_total", customer=c, service="crash") == 1


async def test_queue_gauges_read_the_store(ops: Operations) -> None:
    """Every status is counted (zeros included); nothing paused, no worker alive."""
    c = customer()
    await ops.put_customer(c, make_customer_config().with_secrets())
    await ops.push(c, "trip", make_payload("trip"))
    gauges = await ops.queue_gauges()
    assert gauges.by_status == {
        "pending": 1,
        "sending": 0,
        "delivered": 0,
        "failed": 0,
        "superseded": 0,
    }
    assert gauges.paused_endpoints == 0
    assert gauges.workers_alive == 0


def test_metrics_server_of_a_worker_serves_and_stops() -> None:
    """`telepush worker`'s metrics port: the registry over HTTP; a busy port is a clear error."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match="TELEPUSH_METRICS_PORT"):
            start_metrics_server("127.0.0.1", busy.getsockname()[1])
        port = busy.getsockname()[1]
    stop = start_metrics_server("127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert resp.status == 200 and b"# TYPE telepush_queue_depth gauge" in resp.read()
    finally:
        stop()
