"""Endpoint health and pausing: figures, streaks, the circuit breaker, manual pauses.

The breaker's probe rule: ``record`` opens the breaker with ``probe_at`` unset; the first
claim that sees it schedules the first probe ``probe_interval_s`` later (a cool-down) and
claims nothing for it; from then on, once ``probe_at`` has come and nothing of the endpoint
is in flight, one claim takes a single probe (the oldest due delivery) and moves
``probe_at`` ``probe_interval_s`` on. A delivered probe closes the breaker.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from telepush.domain.customer import Customer
from telepush.domain.delivery import Attempt, Claimed, ErrorKind, Outcome, Status
from telepush.domain.health import EndpointHealth, MinuteStats, PauseReason
from telepush.store.base import Store
from telepush.testing import FakeClock, make_customer_config
from tests.contract.conftest import CUSTOMER, Enqueue

PROBE_S = 30.0


async def _claim(
    store: Store,
    clock: FakeClock,
    *,
    limit: int = 100,
    per_endpoint_limit: int = 100,
    probe_interval_s: float = PROBE_S,
) -> list[Claimed]:
    return await store.claim(
        now=clock.now(),
        worker_id="w1",
        lease_s=600,
        per_endpoint_limit=per_endpoint_limit,
        limit=limit,
        probe_interval_s=probe_interval_s,
    )


def _delivered(item: Claimed, at: datetime, duration_ms: int = 3) -> Outcome:
    attempt = Attempt(item.attempt_number, at, 200, None, duration_ms)
    return Outcome(
        item.delivery_id,
        attempt,
        Status.DELIVERED,
        customer_id=item.customer_id,
        service=item.service,
    )


def _retry(
    item: Claimed, at: datetime, retry_at: datetime | None = None, duration_ms: int = 40
) -> Outcome:
    """A failed attempt (HTTP 500), due again at ``retry_at`` (default: at once)."""
    attempt = Attempt(item.attempt_number, at, 500, ErrorKind.HTTP_STATUS, duration_ms)
    return Outcome(
        item.delivery_id,
        attempt,
        Status.PENDING,
        retry_at or at,
        customer_id=item.customer_id,
        service=item.service,
    )


def _given_up(item: Claimed, at: datetime, duration_ms: int = 30_500) -> Outcome:
    attempt = Attempt(item.attempt_number, at, None, ErrorKind.TIMEOUT, duration_ms)
    return Outcome(
        item.delivery_id,
        attempt,
        Status.FAILED,
        customer_id=item.customer_id,
        service=item.service,
    )


def _unsendable(item: Claimed, at: datetime) -> Outcome:
    attempt = Attempt(item.attempt_number, at, None, None, 0, detail="service is gone")
    return Outcome(
        item.delivery_id,
        attempt,
        Status.FAILED,
        customer_id=item.customer_id,
        service=item.service,
    )


async def _health(
    store: Store, clock: FakeClock, service: str = "trip", since: datetime | None = None
) -> EndpointHealth:
    rows = await store.endpoint_health(
        now=clock.now(), since=since or clock.now() - timedelta(hours=1), customer_id=CUSTOMER
    )
    [row] = [r for r in rows if r.service == service]
    return row


async def _trip_breaker(
    store: Store, clock: FakeClock, enqueue: Enqueue, *, pause_after: int = 3, backlog: int = 0
) -> list[str]:
    """Queue ``pause_after`` + ``backlog`` trips (one second apart) and fail the first
    ``pause_after`` (due again in an hour): the breaker opens. Returns every id, in order."""
    ids = []
    for _ in range(pause_after + backlog):
        ids.append(await enqueue("trip"))
        clock.advance(1)
    items = await _claim(store, clock, limit=pause_after)
    assert [i.delivery_id for i in items] == ids[:pause_after]
    later = clock.now() + timedelta(hours=1)
    await store.record(
        [_retry(i, clock.now(), later) for i in items], worker_id="w1", pause_after=pause_after
    )
    return ids


# ---- figures ----------------------------------------------------------------------------


async def test_every_configured_endpoint_is_listed_with_empty_figures(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """One row per configured endpoint, ordered by customer and service, nothing counted yet;
    ``pending`` is the endpoint's queue."""
    await store.put_customer("zeta", make_customer_config(services=("crash",)), clock.now())
    await enqueue("trip")
    await enqueue("trip")
    await enqueue("crash")
    rows = await store.endpoint_health(now=clock.now(), since=clock.now() - timedelta(hours=1))
    keys = [(r.customer_id, r.service) for r in rows]
    assert keys == sorted(keys)
    assert (keys[-1], len(keys)) == (("zeta", "crash"), len(customer.config.services) + 1)
    only_acme = await store.endpoint_health(
        now=clock.now(), since=clock.now() - timedelta(hours=1), customer_id=CUSTOMER
    )
    assert [r.customer_id for r in only_acme] == [CUSTOMER] * len(customer.config.services)
    trip = await _health(store, clock)
    assert (trip.enabled, trip.paused, trip.paused_at, trip.probe_at) == (True, None, None, None)
    assert (trip.consecutive_failures, trip.last_success_at, trip.last_failure_at) == (
        0,
        None,
        None,
    )
    assert trip.pending == 2
    assert (trip.attempts, trip.failures, trip.delivered, trip.failed, trip.retried) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert (trip.latency_p50_ms, trip.latency_p95_ms, trip.latency_p99_ms) == (None, None, None)
    assert trip.failure_rate is None
    assert await store.throughput(since=clock.now() - timedelta(hours=1)) == []


async def test_figures_and_percentiles_after_recorded_outcomes(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Attempts, failed attempts, deliveries ended delivered or failed and retries are counted,
    durations read back as percentiles; an unsendable outcome counts as failed only."""
    for _ in range(20):
        await enqueue("trip")
    items = await _claim(store, clock)
    at = clock.advance(5)
    outcomes = (
        [_delivered(i, at, duration_ms=4) for i in items[:15]]  # bucket <= 5 ms
        + [_retry(i, at, duration_ms=80) for i in items[15:17]]  # <= 100 ms
        + [_given_up(i, at, duration_ms=2000) for i in items[17:19]]  # <= 2500 ms
        + [_unsendable(items[19], at)]
    )
    await store.record(outcomes, worker_id="w1")
    trip = await _health(store, clock)
    assert (trip.attempts, trip.failures, trip.delivered, trip.failed, trip.retried) == (
        19,
        4,
        15,
        3,
        2,
    )
    assert trip.failure_rate == 4 / 19
    assert (trip.latency_p50_ms, trip.latency_p95_ms, trip.latency_p99_ms) == (5, 2500, 2500)
    assert trip.pending == 2  # the two retries
    crash = await _health(store, clock, "crash")
    assert (crash.attempts, crash.latency_p50_ms) == (0, None)


async def test_figures_are_kept_per_minute(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Throughput sums the endpoints minute by minute, oldest first, for everyone or one
    customer; a window starting later leaves earlier minutes out."""
    await store.put_customer("zeta", make_customer_config(services=("crash",)), clock.now())
    start = clock.now()  # the start of a minute
    await enqueue("trip")
    await enqueue("crash")
    await enqueue("crash", customer_id="zeta")
    first = await _claim(store, clock)
    clock.advance(10)
    await store.record([_delivered(i, clock.now()) for i in first], worker_id="w1")
    await enqueue("trip")
    clock.advance(120)  # two minutes later
    [second] = await _claim(store, clock)
    await store.record([_retry(second, clock.now(), clock.now())], worker_id="w1")
    [third] = await _claim(store, clock)
    await store.record([_given_up(third, clock.now())], worker_id="w1")

    minute_2 = start + timedelta(minutes=2)
    assert await store.throughput(since=start) == [
        MinuteStats(start, attempts=3, failures=0, delivered=3, failed=0, retried=0),
        MinuteStats(minute_2, attempts=2, failures=2, delivered=0, failed=1, retried=1),
    ]
    acme = await store.throughput(since=start, customer_id=CUSTOMER)
    assert [(m.minute, m.attempts, m.delivered) for m in acme] == [(start, 2, 2), (minute_2, 2, 0)]
    later = await store.throughput(since=start + timedelta(seconds=61))
    assert [m.minute for m in later] == [minute_2]
    recent = await _health(store, clock, since=start + timedelta(minutes=1))
    assert (recent.attempts, recent.failures, recent.delivered, recent.failed) == (2, 2, 0, 1)
    everything = await _health(store, clock, since=start)
    assert (everything.attempts, everything.delivered) == (3, 1)


async def test_concurrent_records_add_up(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Batches of one endpoint recorded at the same time (several workers) all count."""
    for _ in range(40):
        await enqueue("trip")
    items = await _claim(store, clock)
    at = clock.now()
    batches = [items[n : n + 5] for n in range(0, 40, 5)]
    await asyncio.gather(
        *(store.record([_delivered(i, at) for i in batch], worker_id="w1") for batch in batches)
    )
    trip = await _health(store, clock)
    assert (trip.attempts, trip.delivered, trip.last_success_at) == (40, 40, at)


# ---- streak and breaker ---------------------------------------------------------------------


async def test_streak_and_last_success_and_failure(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Failed attempts lengthen the streak, a success ends it; an unsendable outcome leaves
    it alone. Without pause_after nothing is paused, however long the streak."""
    for _ in range(4):
        await enqueue("trip")
    items = await _claim(store, clock)
    first_failure = clock.advance(1)
    await store.record([_retry(items[0], first_failure)], worker_id="w1")
    second_failure = clock.advance(1)
    await store.record([_retry(items[1], second_failure)], worker_id="w1")
    trip = await _health(store, clock)
    assert (trip.consecutive_failures, trip.last_failure_at, trip.paused) == (
        2,
        second_failure,
        None,
    )
    await store.record([_unsendable(items[2], clock.advance(1))], worker_id="w1")
    assert (await _health(store, clock)).consecutive_failures == 2
    success = clock.advance(1)
    await store.record([_delivered(items[3], success)], worker_id="w1")
    trip = await _health(store, clock)
    assert (trip.consecutive_failures, trip.last_success_at, trip.last_failure_at) == (
        0,
        success,
        second_failure,
    )
    again = await _claim(store, clock)
    await store.record([_retry(i, clock.now()) for i in again], worker_id="w1")
    trip = await _health(store, clock)
    assert (trip.consecutive_failures, trip.last_success_at, trip.paused) == (2, success, None)


async def test_failures_after_a_success_in_one_batch_make_the_streak(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Within a batch, only the failures after its last success count."""
    for _ in range(4):
        await enqueue("trip")
    a, b, c, d = await _claim(store, clock)
    at = clock.now()
    await store.record(
        [_retry(a, at), _delivered(b, at), _retry(c, at), _retry(d, at)], worker_id="w1"
    )
    assert (await _health(store, clock)).consecutive_failures == 2


async def test_breaker_opens_when_the_streak_reaches_pause_after(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """With pause_after 3, the third consecutive failed attempt pauses the endpoint
    (breaker), dated by that attempt, its first probe not scheduled yet; other endpoints run."""
    for _ in range(3):
        await enqueue("trip")
    await enqueue("crash")
    items = [i for i in await _claim(store, clock) if i.service == "trip"]
    for n, item in enumerate(items[:2]):
        await store.record([_retry(item, clock.advance(1))], worker_id="w1", pause_after=3)
        assert (await _health(store, clock)).consecutive_failures == n + 1
        assert (await _health(store, clock)).paused is None
    tripped_at = clock.advance(1)
    await store.record([_retry(items[2], tripped_at)], worker_id="w1", pause_after=3)
    trip = await _health(store, clock)
    assert (trip.paused, trip.paused_at, trip.probe_at, trip.consecutive_failures) == (
        PauseReason.BREAKER,
        tripped_at,
        None,
        3,
    )
    assert (await _health(store, clock, "crash")).paused is None


async def test_one_batch_can_open_the_breaker(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    for _ in range(5):
        await enqueue("trip")
    items = await _claim(store, clock)
    await store.record([_retry(i, clock.now()) for i in items], worker_id="w1", pause_after=5)
    assert (await _health(store, clock)).paused is PauseReason.BREAKER


async def test_breaker_probes_one_at_a_time_from_probe_at(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Once open, the first claim schedules a probe one interval later and takes nothing;
    then one delivery (the oldest due) at a time, one interval apart; a failed probe keeps
    the breaker open."""
    ids = await _trip_breaker(store, clock, enqueue, backlog=5)
    await enqueue("crash")
    assert [c.service for c in await _claim(store, clock)] == ["crash"]  # others still run
    trip = await _health(store, clock)
    assert trip.probe_at == clock.now() + timedelta(seconds=PROBE_S)
    clock.advance(PROBE_S - 1)
    assert await _claim(store, clock) == []
    clock.advance(1)
    [probe] = await _claim(store, clock)
    assert probe.delivery_id == ids[3]  # the oldest due: the first three wait an hour
    assert (await _health(store, clock)).probe_at == clock.now() + timedelta(seconds=PROBE_S)
    assert await _claim(store, clock) == []
    clock.advance(PROBE_S)
    assert await _claim(store, clock) == []  # the probe is still in flight
    await store.record([_retry(probe, clock.now())], worker_id="w1", pause_after=3)
    trip = await _health(store, clock)
    assert (trip.paused, trip.consecutive_failures) == (PauseReason.BREAKER, 4)
    [again] = await _claim(store, clock)
    assert again.delivery_id == ids[4]  # due since it arrived, before the retry of ids[3]
    assert await _claim(store, clock) == []


async def test_no_probe_while_deliveries_of_the_endpoint_are_in_flight(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """Leases taken before the breaker opened must end before a probe goes."""
    ids = [await enqueue("trip") for _ in range(6)]
    items = await _claim(store, clock, limit=5)
    later = clock.now() + timedelta(hours=1)
    await store.record(
        [_retry(i, clock.now(), later) for i in items[:3]], worker_id="w1", pause_after=3
    )
    assert await _claim(store, clock) == []  # schedules the first probe
    clock.advance(PROBE_S)
    assert await _claim(store, clock) == []  # two deliveries still leased
    await store.record(
        [_retry(i, clock.now(), later) for i in items[3:]], worker_id="w1", pause_after=3
    )
    [probe] = await _claim(store, clock)
    assert probe.delivery_id == ids[5]


async def test_successful_probe_closes_the_breaker_and_the_backlog_drains_in_order(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    ids = await _trip_breaker(store, clock, enqueue, backlog=6)
    assert await _claim(store, clock) == []
    clock.advance(PROBE_S)
    [probe] = await _claim(store, clock)
    succeeded = clock.now()
    await store.record([_delivered(probe, succeeded)], worker_id="w1", pause_after=3)
    trip = await _health(store, clock)
    assert (trip.paused, trip.paused_at, trip.probe_at, trip.consecutive_failures) == (
        None,
        None,
        None,
        0,
    )
    assert trip.last_success_at == succeeded
    drained = await _claim(store, clock)
    assert [c.delivery_id for c in drained] == ids[4:]  # arrival order, all at once


async def test_a_success_from_a_late_lease_closes_the_breaker(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """An in-flight delivery that succeeds after the breaker opened closes it too."""
    for _ in range(4):
        await enqueue("trip")
    items = await _claim(store, clock)
    await store.record([_retry(i, clock.now()) for i in items[:3]], worker_id="w1", pause_after=3)
    assert (await _health(store, clock)).paused is PauseReason.BREAKER
    await store.record([_delivered(items[3], clock.now())], worker_id="w1", pause_after=3)
    assert (await _health(store, clock)).paused is None
    assert len(await _claim(store, clock)) == 3


# ---- manual pause -----------------------------------------------------------------------


async def test_manual_pause_claims_nothing_until_resumed(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    first = await enqueue("trip")
    await enqueue("crash")
    paused_at = clock.now()
    assert await store.set_paused(CUSTOMER, "trip", True, paused_at) is True
    [crash] = await _claim(store, clock)
    assert crash.service == "crash"
    await store.record([_delivered(crash, clock.now())], worker_id="w1")
    clock.advance(86400)
    assert await _claim(store, clock) == []
    assert await store.set_paused(CUSTOMER, "trip", True, clock.now()) is True  # again: no-op
    trip = await _health(store, clock)
    assert (trip.paused, trip.paused_at, trip.probe_at, trip.pending) == (
        PauseReason.MANUAL,
        paused_at,
        None,
        1,
    )
    assert await store.set_paused(CUSTOMER, "trip", False, clock.now()) is True
    assert [c.delivery_id for c in await _claim(store, clock)] == [first]
    assert (await _health(store, clock)).paused is None


async def test_pausing_an_unknown_endpoint_says_so(
    store: Store, clock: FakeClock, enqueue: Enqueue
) -> None:
    await store.put_customer(CUSTOMER, make_customer_config(services=("trip",)), clock.now())
    assert await store.set_paused(CUSTOMER, "crash", True, clock.now()) is False
    assert await store.set_paused("ghost", "trip", True, clock.now()) is False
    assert await store.set_paused("ghost", "trip", False, clock.now()) is False


async def test_a_success_does_not_lift_a_manual_pause(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    await enqueue("trip")
    await enqueue("trip")
    [item, _] = await _claim(store, clock)
    await store.set_paused(CUSTOMER, "trip", True, clock.now())
    await store.record([_delivered(item, clock.now())], worker_id="w1", pause_after=3)
    assert (await _health(store, clock)).paused is PauseReason.MANUAL


async def test_failures_do_not_turn_a_manual_pause_into_a_breaker(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    for _ in range(3):
        await enqueue("trip")
    items = await _claim(store, clock)
    await store.set_paused(CUSTOMER, "trip", True, clock.now())
    await store.record([_retry(i, clock.now()) for i in items], worker_id="w1", pause_after=3)
    trip = await _health(store, clock)
    assert (trip.paused, trip.consecutive_failures) == (PauseReason.MANUAL, 3)
    clock.advance(3600)
    assert await _claim(store, clock) == []


async def test_manual_pause_of_an_open_breaker_stops_its_probes(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    await _trip_breaker(store, clock, enqueue, backlog=2)
    assert await _claim(store, clock) == []
    await store.set_paused(CUSTOMER, "trip", True, clock.now())
    clock.advance(PROBE_S * 10)
    assert await _claim(store, clock) == []
    assert (await _health(store, clock)).probe_at is None


async def test_resume_ends_the_breaker_and_the_streak(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    ids = await _trip_breaker(store, clock, enqueue, backlog=3)
    assert await _claim(store, clock) == []
    assert await store.set_paused(CUSTOMER, "trip", False, clock.now()) is True
    trip = await _health(store, clock)
    assert (trip.paused, trip.paused_at, trip.probe_at, trip.consecutive_failures) == (
        None,
        None,
        None,
        0,
    )
    assert [c.delivery_id for c in await _claim(store, clock)] == ids[3:]


# ---- configuration and replays ------------------------------------------------------------


async def test_replacing_the_customer_keeps_the_state_of_remaining_services(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    """A new configuration keeps pauses and streaks of services still configured; a service
    removed and added back starts afresh."""
    await _trip_breaker(store, clock, enqueue)
    await store.set_paused(CUSTOMER, "crash", True, clock.now())
    await store.put_customer(CUSTOMER, make_customer_config(name="v2"), clock.now())
    trip = await _health(store, clock)
    assert (trip.paused, trip.consecutive_failures) == (PauseReason.BREAKER, 3)
    assert (await _health(store, clock, "crash")).paused is PauseReason.MANUAL

    config = make_customer_config(services=("trip", "diagnosis"), disabled=("trip",))
    await store.put_customer(CUSTOMER, config, clock.now())
    rows = await store.endpoint_health(
        now=clock.now(), since=clock.now() - timedelta(hours=1), customer_id=CUSTOMER
    )
    assert [(r.service, r.enabled, r.paused) for r in rows] == [
        ("diagnosis", True, None),
        ("trip", False, PauseReason.BREAKER),
    ]
    await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    crash = await _health(store, clock, "crash")
    assert (crash.paused, crash.consecutive_failures) == (None, 0)


async def test_claim_says_when_a_delivery_is_a_manual_replay(
    store: Store, clock: FakeClock, customer: Customer, enqueue: Enqueue
) -> None:
    replayed = await enqueue("trip")
    [item] = await _claim(store, clock)
    assert item.manual is False
    await store.record([_given_up(item, clock.now())], worker_id="w1")
    await store.retry_delivery(replayed, clock.now())
    fresh = await enqueue("trip")
    claimed = {c.delivery_id: c.manual for c in await _claim(store, clock)}
    assert claimed == {replayed: True, fresh: False}
