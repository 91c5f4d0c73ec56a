"""The worker: claims, sends, records outcomes in batches, respects limits, stops gracefully.

The store is a real SQLite file; the sender is a scripted stand-in (this layer's unit test).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telepush.delivery.sender import PushRequest
from telepush.delivery.worker import INLINE_PAYLOAD_MAX, Worker
from telepush.domain.customer import CustomerConfig
from telepush.domain.delivery import AttemptResult, ErrorKind, Outcome, Status, StoredPayload
from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore
from telepush.testing import make_customer_config, make_payload, new_delivery

Script = Callable[[PushRequest], "asyncio.Future[AttemptResult] | AttemptResult"]
OK = AttemptResult(ok=True, status_code=200)


def now() -> datetime:
    return datetime.now(UTC)


class ScriptedSender:
    """Answers each send with ``script(request)``; counts concurrency."""

    limits_endpoints = False  # the worker keeps the per-endpoint limit
    reads_stored_payloads = False  # every claim carries its payloads

    def __init__(self, script: Callable[[PushRequest], AttemptResult] | None = None) -> None:
        self.script = script or (lambda _r: OK)
        self.sent: list[PushRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None

    async def send(self, req: PushRequest) -> AttemptResult:
        self.sent.append(req)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            return self.script(req)
        finally:
            self.in_flight -= 1


def fast_retry(config: CustomerConfig) -> CustomerConfig:
    data = config.with_secrets()
    for service in data["services"].values():
        service["retry"] = {"delays": ["60s"], "thenEvery": None, "jitter": 0}
    return CustomerConfig.parse(data)


async def queue(
    store: SQLiteStore, n: int, customer: str = "c1", service: str = "trip"
) -> list[str]:
    items = [new_delivery(customer, service, created_at=now()) for _ in range(n)]
    await store.enqueue(items)
    return [i.delivery_id for i in items]


def worker(store: SQLiteStore, sender: ScriptedSender, **kw: object) -> Worker:
    options: dict[str, object] = {
        "lease_s": 60.0,
        "poll_interval_s": 0.05,
        "shutdown_grace_s": 0.2,
        **kw,
    }
    return Worker(store, sender, worker_id="w1", clock=now, **options)  # type: ignore[arg-type]


async def run_until(
    w: Worker, done: Callable[[], asyncio.Future[bool] | bool], timeout_s: float = 10.0
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while True:
            result = done()
            if asyncio.isfuture(result) or asyncio.iscoroutine(result):
                result = await result
            if result:
                break
            assert asyncio.get_running_loop().time() < deadline, "condition not reached"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def statuses(store: SQLiteStore, ids: list[str]) -> list[Status]:
    return [(await store.get_delivery(i)).status for i in ids]  # type: ignore[union-attr]


async def test_delivers_and_records_attempts(store: SQLiteStore) -> None:
    """Due deliveries are sent once each and recorded delivered with one attempt."""
    await store.put_customer("c1", make_customer_config(), now())
    ids = await queue(store, 25)
    sender = ScriptedSender()
    w = worker(store, sender)
    await run_until(w, lambda: len(sender.sent) == 25 and w.recorder.recorded == 25)
    assert set(await statuses(store, ids)) == {Status.DELIVERED}
    got = await store.get_delivery(ids[0])
    assert got is not None and [a.status_code for a in got.attempts] == [200]
    first = sender.sent[0]
    assert first.attempt_number == 1 and first.url.endswith("/push/trip")


async def test_failure_is_rescheduled_by_the_customers_policy(store: SQLiteStore) -> None:
    """A 500 leaves the delivery pending, due after the policy's delay, attempt recorded."""
    await store.put_customer("c1", fast_retry(make_customer_config()), now())
    [delivery_id] = await queue(store, 1)
    failed = AttemptResult(ok=False, status_code=500, error=ErrorKind.HTTP_STATUS)
    sender = ScriptedSender(lambda _r: failed)
    w = worker(store, sender)
    before = now()
    await run_until(w, lambda: w.recorder.recorded == 1)
    got = await store.get_delivery(delivery_id)
    assert got is not None and got.status is Status.PENDING
    assert got.next_attempt_at is not None
    assert 59 <= (got.next_attempt_at - before).total_seconds() <= 62
    assert got.attempts[0].error is ErrorKind.HTTP_STATUS


async def test_global_in_flight_limit(store: SQLiteStore) -> None:
    """No more than max_in_flight sends run at once, whatever the backlog."""
    for c in ("c1", "c2", "c3"):
        await store.put_customer(c, make_customer_config(), now())
        await queue(store, 10, customer=c)
    sender = ScriptedSender()
    sender.gate = asyncio.Event()
    w = worker(store, sender, max_in_flight=7, per_endpoint_limit=5)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if sender.in_flight == 7:
            break
    await asyncio.sleep(0.1)  # would more be claimed?
    assert sender.in_flight == 7 and w.in_flight == 7
    sender.gate.set()
    while len(sender.sent) < 30:
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert sender.max_in_flight == 7


async def test_graceful_stop_releases_unfinished_attempts(store: SQLiteStore) -> None:
    """Attempts still running after the grace period are cancelled and released unsent."""
    await store.put_customer("c1", make_customer_config(), now())
    ids = await queue(store, 3)
    sender = ScriptedSender()
    sender.gate = asyncio.Event()  # never opened: the endpoint hangs
    w = worker(store, sender, shutdown_grace_s=0.1)
    await run_until(w, lambda: sender.in_flight == 3)
    for delivery_id in ids:
        got = await store.get_delivery(delivery_id)
        assert got is not None and got.status is Status.PENDING
        assert got.attempt_count == 0 and got.attempts == []


async def test_claiming_ahead_keeps_the_per_endpoint_limit(store: SQLiteStore) -> None:
    """On SQLite the worker leases a few more deliveries of an endpoint than it may send at
    once; the extra ones wait: never more than per_endpoint_limit requests in flight, never
    more than limit + prefetch leases, and each waiting one starts as a slot frees."""
    await store.put_customer("c1", make_customer_config(), now())
    ids = await queue(store, 40)
    sender = ScriptedSender()
    sender.gate = asyncio.Event()
    w = worker(store, sender, per_endpoint_limit=4)
    assert w.prefetch == 8
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if sender.in_flight == 4 and (await store.count_by_status())[Status.SENDING] == 12:
                break
        await asyncio.sleep(0.1)  # would more be sent, or leased?
        assert sender.in_flight == 4
        assert (await store.count_by_status())[Status.SENDING] == 12  # 4 sending + 8 waiting
        sender.gate.set()
        while w.recorder.recorded < 40:
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    assert sender.max_in_flight == 4
    assert sorted(r.delivery_id for r in sender.sent) == sorted(ids)  # each sent once
    assert set(await statuses(store, ids)) == {Status.DELIVERED}


async def test_graceful_stop_releases_claimed_deliveries_not_started(store: SQLiteStore) -> None:
    """Deliveries leased ahead and still waiting for a slot at stop go back unsent."""
    await store.put_customer("c1", make_customer_config(), now())
    ids = await queue(store, 8)
    sender = ScriptedSender()
    sender.gate = asyncio.Event()  # the endpoint hangs
    w = worker(store, sender, per_endpoint_limit=2, shutdown_grace_s=0.1)
    await run_until(w, lambda: sender.in_flight == 2 and w._slots.waiting == 4)
    counts = await store.count_by_status()
    assert counts[Status.PENDING] == 8 and counts[Status.SENDING] == 0
    for delivery_id in ids:
        got = await store.get_delivery(delivery_id)
        assert got is not None and got.attempt_count == 0


async def test_wake_claims_at_once(store: SQLiteStore) -> None:
    """With a long poll interval, wake() after an enqueue gets the delivery sent at once."""
    await store.put_customer("c1", make_customer_config(), now())
    sender = ScriptedSender()
    w = worker(store, sender, poll_interval_s=30.0)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    await asyncio.sleep(0.1)
    await queue(store, 1)
    w.wake()
    for _ in range(100):
        if sender.sent:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert len(sender.sent) == 1


async def test_delivery_of_a_removed_service_fails_with_a_reason(store: SQLiteStore) -> None:
    """A claimed delivery whose service configuration is gone ends failed, saying why."""
    await store.put_customer("c1", make_customer_config(), now())
    [delivery_id] = await queue(store, 1)
    sender = ScriptedSender()
    w = worker(store, sender)
    claimed = await store.claim(
        now=now(), worker_id="w1", lease_s=60, per_endpoint_limit=5, limit=5
    )
    await store.put_customer("c1", make_customer_config(services=("crash",)), now())
    await w._deliver(claimed[0])  # the claim was taken while the service still existed
    await w.recorder.close()
    await w.recorder.run()
    got = await store.get_delivery(delivery_id)
    assert got is not None and got.status is Status.FAILED
    assert "gone" in (got.attempts[0].detail or "")
    assert sender.sent == []


async def test_breaker_pauses_a_failing_endpoint_then_a_probe_resumes_it(
    store: SQLiteStore,
) -> None:
    """With pause_after 3, three failed attempts pause the endpoint and nothing more is
    sent; a probe probe_interval_s later succeeds and the rest goes, in arrival order."""
    await store.put_customer("c1", fast_retry(make_customer_config()), now())
    ids = await queue(store, 8)
    failed = AttemptResult(ok=False, status_code=500, error=ErrorKind.HTTP_STATUS)
    sender = ScriptedSender(lambda _r: failed)
    options = {"pause_after": 3, "probe_interval_s": 0.3, "per_endpoint_limit": 1}

    async def breaker_open() -> bool:
        rows = await store.endpoint_health(now=now(), since=now(), customer_id="c1")
        return any(r.service == "trip" and r.paused == "breaker" for r in rows)

    await run_until(worker(store, sender, **options), breaker_open)
    assert [r.delivery_id for r in sender.sent] == ids[:3]

    sender = ScriptedSender()
    await run_until(
        worker(store, sender, **options),
        lambda: len(sender.sent) == 5 and not sender.in_flight,
    )
    assert [r.delivery_id for r in sender.sent] == ids[3:]
    assert await statuses(store, ids[3:]) == [Status.DELIVERED] * 5
    assert not await breaker_open()


async def test_the_next_delivery_starts_before_the_outcome_is_booked(store: SQLiteStore) -> None:
    """A delivery frees its endpoint's slot as soon as its reply is in: the next waiting
    delivery of the endpoint has started by the time the first outcome is recorded."""
    await store.put_customer("c1", make_customer_config(), now())
    await queue(store, 2)
    sender = ScriptedSender()
    w = worker(store, sender, per_endpoint_limit=1)
    waiting_at_first_outcome: list[int] = []
    add = w.recorder.add

    def add_and_look(outcome: Outcome) -> None:
        if not waiting_at_first_outcome:
            waiting_at_first_outcome.append(w._slots.waiting)
        add(outcome)

    w.recorder.add = add_and_look  # type: ignore[method-assign]
    await run_until(w, lambda: w.recorder.recorded == 2)
    assert waiting_at_first_outcome == [0]  # the second one had left the queue already


class ReadingSender(ScriptedSender):
    """A sender whose delivery processes read large payloads from the store's file."""

    limits_endpoints = True
    reads_stored_payloads = True


@pytest.mark.parametrize("reads", [True, False])
async def test_large_payloads_are_left_in_the_store_for_a_sender_that_reads_them(
    store: SQLiteStore, reads: bool
) -> None:
    """A payload over INLINE_PAYLOAD_MAX goes to a reading sender as ``StoredPayload`` (its
    seq), a small one as bytes; a sender that does not read them gets bytes only."""
    await store.put_customer("c1", make_customer_config(), now())
    large = make_payload("trip", itinId="big", sensors="x" * INLINE_PAYLOAD_MAX)
    items = [
        new_delivery("c1", "trip", created_at=now()),
        new_delivery("c1", "trip", created_at=now(), payload=large),
    ]
    await store.enqueue(items)
    sender = ReadingSender() if reads else ScriptedSender()
    w = worker(store, sender)
    await run_until(w, lambda: w.recorder.recorded == 2)
    got = {req.delivery_id: req.payload for req in sender.sent}
    assert got[items[0].delivery_id] == items[0].payload
    if reads:
        assert isinstance(got[items[1].delivery_id], StoredPayload)
    else:
        assert got[items[1].delivery_id] == large


async def test_a_worker_refreshes_the_statistics_first_and_delivers_if_that_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    class Refusing(SQLiteStore):
        async def refresh_statistics(self) -> None:
            calls.append("refresh")
            raise RuntimeError("lock timeout")

    store = Refusing(tmp_path / "r.db", SecretBox(SecretBox.generate_key()))
    await store.open()
    await store.migrate()
    try:
        await store.put_customer("c1", make_customer_config(), now())
        ids = await queue(store, 3)
        sender = ScriptedSender()
        w = worker(store, sender)
        await run_until(w, lambda: w.recorder.recorded == 3)
        assert calls == ["refresh"]
        assert set(await statuses(store, ids)) == {Status.DELIVERED}
        assert "could not refresh the queue's statistics: lock timeout" in caplog.text
    finally:
        await store.close()
