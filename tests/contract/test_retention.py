"""Retention: payloads erased at their cutoffs (never a pending one's), old metadata removed
with its attempts, old figures and finished tasks removed; compaction runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from telepush.domain.customer import Customer
from telepush.domain.delivery import Status
from telepush.domain.retention import PurgeResult, RetentionPolicy
from telepush.domain.tasks import TaskStatus
from telepush.store.base import Store
from telepush.testing import FakeClock, make_payload
from tests.contract import peek
from tests.contract.backends import Backend
from tests.contract.conftest import CUSTOMER, Enqueue
from tests.contract.test_tasks import end, failed

# Deliveries can only be queued for a customer that exists.
pytestmark = pytest.mark.usefixtures("customer", "other_customer")

DAY = 86400.0
POLICY = RetentionPolicy(
    delivered=timedelta(days=7),
    failed=timedelta(days=30),
    metadata=timedelta(days=90),
    figures=timedelta(days=7),
)


async def test_payloads_are_erased_at_their_cutoffs_only(
    store: Store,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
    backend: Backend,
    workdir: Path,
) -> None:
    """Delivered payloads go after 7 days, failed ones after 30; the records stay, and a
    pending delivery keeps its payload however old it is."""
    start = clock.now()
    old_delivered = await enqueue("crash")
    await end(store, clock, [old_delivered], Status.DELIVERED)
    old_failed = await failed(store, clock, enqueue, 1)
    pending = await enqueue("crash", customer_id="other")  # disabled: never claimed
    clock.advance(24 * DAY)  # exactly at the delivered cutoff below: kept (strictly before)
    at_cutoff = await enqueue("crash")
    await end(store, clock, [at_cutoff], Status.DELIVERED)
    clock.advance(DAY)
    recent_delivered = await enqueue("crash")
    await end(store, clock, [recent_delivered], Status.DELIVERED)
    recent_failed = await failed(store, clock, enqueue, 1)
    clock.advance(6 * DAY)  # now = start + 31 days

    result = await store.purge(POLICY.cutoffs(clock.now()))

    assert (result.payloads_erased, result.deliveries_removed) == (2, 0)
    assert clock.now() - start == timedelta(days=31)
    for gone in (old_delivered, *old_failed):
        assert await backend.stored_payload(workdir, gone) is None
        assert await store.get_delivery(gone) is not None  # metadata stays
    for kept in (pending, at_cutoff, recent_delivered, *recent_failed):
        assert await backend.stored_payload(workdir, kept) is not None, kept

    assert await store.purge(POLICY.cutoffs(clock.now())) == PurgeResult()  # idempotent


async def test_purge_works_in_chunks(
    store: Store,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
    backend: Backend,
    workdir: Path,
) -> None:
    """Small chunks erase the same as one big one, across pending rows in between."""
    ids: list[str] = []
    for _ in range(7):
        ids += await failed(store, clock, enqueue, 1)
        await enqueue("crash", customer_id="other")  # pending, interleaved
    clock.advance(31 * DAY)
    result = await store.purge(POLICY.cutoffs(clock.now()), chunk=2)
    assert result.payloads_erased == 7
    assert [await backend.stored_payload(workdir, i) for i in ids] == [None] * 7
    clock.advance(60 * DAY)
    assert (await store.purge(POLICY.cutoffs(clock.now()), chunk=3)).deliveries_removed == 7


async def test_old_final_deliveries_are_removed_with_their_attempts(
    store: Store,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
    backend: Backend,
    workdir: Path,
) -> None:
    """After 90 days, final deliveries go, attempts with them; unfinished ones and those that
    ended recently (a replay) stay."""
    delivered = await enqueue("crash")
    await end(store, clock, [delivered], Status.DELIVERED)
    [dead] = await failed(store, clock, enqueue, 1)
    [replayed] = await failed(store, clock, enqueue, 1)
    trip = await enqueue("trip", payload=make_payload("trip", itinId="X"), key="X")
    deletion = await enqueue(
        "deleted-trip", payload=make_payload("deleted-trip", itinId="X"), key="X"
    )
    pending = await enqueue("crash", customer_id="other")
    superseded = await store.get_delivery(trip)
    assert superseded is not None and superseded.status is Status.SUPERSEDED
    clock.advance(85 * DAY)
    await store.retry_delivery(replayed, clock.now())
    await end(store, clock, [replayed, deletion])  # both end failed now
    assert await _count(backend, workdir, "attempts") == 5
    clock.advance(6 * DAY)  # 91 days after the first ones ended

    result = await store.purge(POLICY.cutoffs(clock.now()))

    assert result.deliveries_removed == 3
    assert result.payloads_erased == 2  # of the delivered and the dead one, before removal
    for gone in (delivered, dead, trip):
        assert await store.get_delivery(gone) is None
    for kept in (replayed, deletion, pending):
        assert await store.get_delivery(kept) is not None
    assert await backend.stored_payload(workdir, pending) is not None
    # The attempts left are those of the replayed delivery (2) and of the deletion (1).
    assert await _count(backend, workdir, "attempts") == 3


async def test_old_figures_are_removed(
    store: Store, clock: FakeClock, backend: Backend, workdir: Path
) -> None:
    """Per-minute figures and latency counts of minutes before the cutoff go."""
    now_minute = int(clock.now().timestamp() // 60)
    cutoff_minute = now_minute - 7 * 24 * 60
    minutes = [cutoff_minute - 100, cutoff_minute - 1, cutoff_minute, now_minute]
    for minute in minutes:
        await peek.execute(
            backend,
            workdir,
            "INSERT INTO endpoint_minutes (customer_id, service, minute, attempts)"
            " VALUES (?, ?, ?, 1)",
            [CUSTOMER, "crash", minute],
        )
        await peek.execute(
            backend,
            workdir,
            "INSERT INTO endpoint_latency (customer_id, service, minute, bucket, count)"
            " VALUES (?, ?, ?, 0, 1)",
            [CUSTOMER, "crash", minute],
        )

    result = await store.purge(POLICY.cutoffs(clock.now()), chunk=1)

    assert result == PurgeResult(minutes_removed=2)
    for table in ("endpoint_minutes", "endpoint_latency"):
        rows = await peek.execute(backend, workdir, f"SELECT minute FROM {table} ORDER BY minute")
        assert [m for (m,) in rows] == [cutoff_minute, now_minute], table


async def test_finished_tasks_go_with_old_metadata(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    await failed(store, clock, enqueue, 1)
    await failed(store, clock, enqueue, 1, service="diagnosis")
    await store.start_retry_task("done", CUSTOMER, "crash", clock.now())
    await store.advance_task("done", clock.now())
    await store.start_retry_task("running", CUSTOMER, "diagnosis", clock.now())
    clock.advance(91 * DAY)
    await store.purge(POLICY.cutoffs(clock.now()))
    assert await store.get_task("done") is None
    running = await store.get_task("running")
    assert running is not None and running.status is TaskStatus.RUNNING


@pytest.mark.parametrize("full", [False, True])
async def test_compact_runs_while_the_store_is_in_use(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue, full: bool
) -> None:
    ids = await failed(store, clock, enqueue, 3)
    clock.advance(31 * DAY)
    await store.purge(POLICY.cutoffs(clock.now()))
    await store.compact(full=full)
    await store.compact()
    fresh = await enqueue("crash")  # the store goes on working
    assert [d.status for d in [await store.get_delivery(i) for i in [*ids, fresh]] if d] == [
        Status.FAILED
    ] * 3 + [Status.PENDING]


async def _count(backend: Backend, workdir: Path, table: str) -> int:
    return int(await peek.scalar(backend, workdir, f"SELECT count(*) FROM {table}"))
