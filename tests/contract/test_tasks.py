"""Bulk replay tasks: counting, chunks and progress, one task per endpoint, deletion wins,
stalled tasks; and a single replay marking its delivery manual."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from telepush.domain.customer import Customer
from telepush.domain.delivery import Attempt, ErrorKind, Outcome, Status
from telepush.domain.tasks import RETRY_FAILED, Task, TaskStatus
from telepush.errors import Conflict, InvalidInput, NotFound
from telepush.store.base import Store
from telepush.testing import FakeClock, make_payload
from tests.contract import peek
from tests.contract.backends import Backend
from tests.contract.conftest import CUSTOMER, Enqueue

# Deliveries can only be queued for a customer that exists.
pytestmark = pytest.mark.usefixtures("customer", "other_customer")


async def end(
    store: Store, clock: FakeClock, ids: Sequence[str], status: Status = Status.FAILED
) -> None:
    """Claim exactly ``ids`` (everything due) and record them ``status`` now."""
    claimed = await store.claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=1000, limit=1000
    )
    assert sorted(c.delivery_id for c in claimed) == sorted(ids)
    ok = status is Status.DELIVERED
    await store.record(
        [
            Outcome(
                c.delivery_id,
                Attempt(
                    c.attempt_number,
                    clock.now(),
                    200 if ok else 500,
                    None if ok else ErrorKind.HTTP_STATUS,
                    5,
                ),
                status,
                customer_id=c.customer_id,
                service=c.service,
            )
            for c in claimed
        ],
        worker_id="w1",
    )


async def failed(
    store: Store, clock: FakeClock, enqueue: Enqueue, n: int, service: str = "crash"
) -> list[str]:
    """Queue ``n`` deliveries of ``service`` and fail them now."""
    ids = [await enqueue(service) for _ in range(n)]
    await end(store, clock, ids)
    return ids


async def statuses(store: Store, ids: Sequence[str]) -> list[Status]:
    found = [await store.get_delivery(i) for i in ids]
    return [d.status for d in found if d is not None]


async def manual_flags(backend: Backend, workdir: Path, ids: Sequence[str]) -> list[bool]:
    return [
        bool(
            await peek.scalar(
                backend, workdir, "SELECT manual FROM deliveries WHERE delivery_id = ?", [i]
            )
        )
        for i in ids
    ]


async def test_a_task_counts_the_endpoints_failed_deliveries_that_kept_their_payload(
    store: Store,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
    backend: Backend,
    workdir: Path,
) -> None:
    """nb_items: failed, this customer and service, payload present; nothing else."""
    mine = await failed(store, clock, enqueue, 3)
    erased = await failed(store, clock, enqueue, 1)
    await peek.execute(
        backend,
        workdir,
        "DELETE FROM payloads WHERE seq = (SELECT seq FROM deliveries WHERE delivery_id = ?)",
        erased,
    )
    await failed(store, clock, enqueue, 1, service="diagnosis")
    delivered = await enqueue("crash")
    await end(store, clock, [delivered], Status.DELIVERED)
    await enqueue("crash")  # pending
    await enqueue("crash", customer_id="other")  # never claimed: disabled

    task = await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())

    assert (task.task_id, task.kind, task.customer_id, task.service) == (
        "t1",
        RETRY_FAILED,
        CUSTOMER,
        "crash",
    )
    assert (task.status, task.nb_items, task.nb_done, task.nb_skipped) == (
        TaskStatus.RUNNING,
        3,
        0,
        0,
    )
    assert task.created_at == task.updated_at == clock.now()
    assert task.created_at.tzinfo is not None and task.created_at.utcoffset() == timedelta(0)
    assert task.finished_at is None and task.error is None and task.progress == 0.0
    assert await statuses(store, mine) == [Status.FAILED] * 3  # nothing moves before advance


async def test_advance_requeues_chunk_by_chunk_then_ends_done(
    store: Store,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
    backend: Backend,
    workdir: Path,
) -> None:
    """Each advance re-queues the next chunk (pending, due now, manual); a short chunk ends
    the task done."""
    ids = await failed(store, clock, enqueue, 5)
    await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())

    clock.advance(10)
    first = await store.advance_task("t1", clock.now(), chunk=2)
    assert (first.status, first.nb_done, first.updated_at) == (TaskStatus.RUNNING, 2, clock.now())
    assert first.progress == pytest.approx(0.4)
    assert await statuses(store, ids) == [Status.PENDING] * 2 + [Status.FAILED] * 3
    requeued = await store.get_delivery(ids[0])
    assert requeued is not None and requeued.next_attempt_at == clock.now()

    second = await store.advance_task("t1", clock.now(), chunk=2)
    assert (second.status, second.nb_done) == (TaskStatus.RUNNING, 4)
    clock.advance(5)
    last = await store.advance_task("t1", clock.now(), chunk=2)
    assert (last.status, last.nb_done, last.nb_skipped) == (TaskStatus.DONE, 5, 0)
    assert last.finished_at == clock.now() and last.progress == 1.0
    assert await statuses(store, ids) == [Status.PENDING] * 5
    assert await manual_flags(backend, workdir, ids) == [True] * 5

    again = await store.advance_task("t1", clock.now(), chunk=2)
    assert again == last  # a finished task stays as it is

    claimed = await store.claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=100, limit=100
    )
    assert sorted(c.delivery_id for c in claimed) == sorted(ids)


async def test_an_exact_multiple_of_the_chunk_ends_with_an_empty_chunk(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    await failed(store, clock, enqueue, 4)
    await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())
    assert (await store.advance_task("t1", clock.now(), chunk=2)).status is TaskStatus.RUNNING
    assert (await store.advance_task("t1", clock.now(), chunk=2)).status is TaskStatus.RUNNING
    done = await store.advance_task("t1", clock.now(), chunk=2)
    assert (done.status, done.nb_done, done.nb_skipped) == (TaskStatus.DONE, 4, 0)


async def test_nothing_to_replay_creates_the_task_done(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    await enqueue("crash")  # pending, not failed
    task = await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())
    assert (task.status, task.nb_items, task.finished_at) == (TaskStatus.DONE, 0, clock.now())
    assert task.progress == 1.0
    # A done task does not hold the endpoint.
    assert (await store.start_retry_task("t2", CUSTOMER, "crash", clock.now())).nb_items == 0


async def test_one_running_task_per_endpoint(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A second task for the same endpoint is a Conflict naming the running one; other
    endpoints are free; once it is done (or failed) a new one may start."""
    await failed(store, clock, enqueue, 2)
    await failed(store, clock, enqueue, 2, service="diagnosis")
    await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())

    with pytest.raises(Conflict) as info:
        await store.start_retry_task("t2", CUSTOMER, "crash", clock.now())
    assert "t1" in info.value.message and "/v1/tasks/t1" in info.value.message
    assert await store.get_task("t2") is None

    other = await store.start_retry_task("t3", CUSTOMER, "diagnosis", clock.now())
    assert other.status is TaskStatus.RUNNING

    await store.advance_task("t1", clock.now(), chunk=10)
    again = await store.start_retry_task("t4", CUSTOMER, "crash", clock.now())
    assert (again.status, again.nb_items) == (TaskStatus.DONE, 0)  # all were re-queued

    await store.fail_task("t3", "worker stopped", clock.now())
    assert (await store.start_retry_task("t5", CUSTOMER, "diagnosis", clock.now())).nb_items == 2


async def test_deliveries_that_left_failed_meanwhile_are_skipped(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    ids = await failed(store, clock, enqueue, 3)
    await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())
    await store.retry_delivery(ids[1], clock.now())  # replayed one by one meanwhile

    done = await store.advance_task("t1", clock.now(), chunk=10)
    assert (done.status, done.nb_items, done.nb_done, done.nb_skipped) == (
        TaskStatus.DONE,
        3,
        2,
        1,
    )
    assert done.progress == 1.0


async def test_deliveries_failing_after_the_start_are_not_part_of_the_task(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    ids = await failed(store, clock, enqueue, 2)
    await store.start_retry_task("t1", CUSTOMER, "crash", clock.now())
    later = await failed(store, clock, enqueue, 1)
    done = await store.advance_task("t1", clock.now(), chunk=10)
    assert (done.nb_items, done.nb_done) == (2, 2)
    assert await statuses(store, ids + later) == [Status.PENDING] * 2 + [Status.FAILED]


async def test_time_window_form(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Only deliveries that ended failed within [failed_from, failed_to)."""
    start = clock.now()
    before = await failed(store, clock, enqueue, 1)
    clock.advance(3600)
    inside = await failed(store, clock, enqueue, 2)
    clock.advance(3600)
    at_end = await failed(store, clock, enqueue, 1)
    window_from, window_to = start + timedelta(hours=1), start + timedelta(hours=2)

    task = await store.start_retry_task(
        "t1", CUSTOMER, "crash", clock.now(), failed_from=window_from, failed_to=window_to
    )
    assert task.nb_items == 2
    assert (task.failed_from, task.failed_to) == (window_from, window_to)
    done = await store.advance_task("t1", clock.now(), chunk=10)
    assert (done.status, done.nb_done) == (TaskStatus.DONE, 2)
    assert await statuses(store, before + inside + at_end) == [
        Status.FAILED,
        Status.PENDING,
        Status.PENDING,
        Status.FAILED,
    ]
    read = await store.get_task("t1")
    assert read is not None and read.failed_from == window_from
    assert read.failed_from is not None and read.failed_from.tzinfo is not None


async def test_deletion_wins_over_a_bulk_replay(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A trip whose deleted-trip has arrived is never re-queued: not counted when the
    deletion came first, skipped when it comes while the task runs."""
    deleted_first = await enqueue("trip", payload=make_payload("trip", itinId="A"), key="A")
    deleted_later = await enqueue("trip", payload=make_payload("trip", itinId="B"), key="B")
    kept = await enqueue("trip", payload=make_payload("trip", itinId="C"), key="C")
    await end(store, clock, [deleted_first, deleted_later, kept])
    deletion_a = await enqueue(
        "deleted-trip", payload=make_payload("deleted-trip", itinId="A"), key="A"
    )
    await end(store, clock, [deletion_a], Status.DELIVERED)

    task = await store.start_retry_task("t1", CUSTOMER, "trip", clock.now())
    assert task.nb_items == 2
    await enqueue("deleted-trip", payload=make_payload("deleted-trip", itinId="B"), key="B")

    done = await store.advance_task("t1", clock.now(), chunk=10)
    assert (done.status, done.nb_done, done.nb_skipped) == (TaskStatus.DONE, 1, 1)
    assert await statuses(store, [deleted_first, deleted_later, kept]) == [
        Status.SUPERSEDED,
        Status.SUPERSEDED,
        Status.PENDING,
    ]


async def test_unknown_tasks(store: Store, clock: FakeClock) -> None:
    assert await store.get_task("nope") is None
    with pytest.raises(NotFound):
        await store.advance_task("nope", clock.now())
    await store.fail_task("nope", "whatever", clock.now())  # nothing to fail: no error


async def test_fail_list_and_stalled_tasks(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    await failed(store, clock, enqueue, 2)
    await failed(store, clock, enqueue, 2, service="diagnosis")
    await failed(store, clock, enqueue, 2, service="crash-report")
    t0 = clock.now()
    await store.start_retry_task("t1", CUSTOMER, "crash", t0)
    clock.advance(1)
    await store.start_retry_task("t2", CUSTOMER, "diagnosis", clock.now())
    clock.advance(1)
    await store.start_retry_task("t3", CUSTOMER, "crash-report", clock.now())

    assert [t.task_id for t in await store.list_tasks()] == ["t3", "t2", "t1"]
    assert [t.task_id for t in await store.list_tasks(limit=2)] == ["t3", "t2"]

    clock.advance(60)
    await store.advance_task("t2", clock.now(), chunk=1)  # t2 still runs, and is alive
    await store.fail_task("t3", "boom", clock.now())
    failed_task = await store.get_task("t3")
    assert failed_task is not None
    assert (failed_task.status, failed_task.error, failed_task.finished_at) == (
        TaskStatus.FAILED,
        "boom",
        clock.now(),
    )

    stalled = await store.stalled_tasks(clock.now() - timedelta(seconds=30))
    assert [t.task_id for t in stalled] == ["t1"]
    assert stalled[0].updated_at == t0.astimezone(UTC)
    assert await store.stalled_tasks(t0) == []


async def test_a_single_replay_marks_the_delivery_manual(
    store: Store,
    clock: FakeClock,
    customer: Customer,
    enqueue: Enqueue,
    backend: Backend,
    workdir: Path,
) -> None:
    """retry_delivery puts the delivery back as manual: a failure then ends it failed."""
    [replayed, untouched] = await failed(store, clock, enqueue, 2)
    assert await manual_flags(backend, workdir, [replayed, untouched]) == [False, False]
    await store.retry_delivery(replayed, clock.now())
    assert await manual_flags(backend, workdir, [replayed, untouched]) == [True, False]


async def test_concurrent_starts_let_exactly_one_task_run(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Racing starts for one endpoint (several connections on PostgreSQL): one task runs,
    every other start is a Conflict."""
    await failed(store, clock, enqueue, 2)
    results = await asyncio.gather(
        *(store.start_retry_task(f"t{i}", CUSTOMER, "crash", clock.now()) for i in range(4)),
        return_exceptions=True,
    )
    started = [r for r in results if isinstance(r, Task)]
    assert len(started) == 1 and started[0].status is TaskStatus.RUNNING
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Task))
    assert [t.task_id for t in await store.list_tasks()] == [started[0].task_id]


async def test_listing_tasks_needs_a_positive_limit(store: Store) -> None:
    with pytest.raises(InvalidInput):
        await store.list_tasks(limit=0)
