"""LaneGate: at most ``limit`` holders per lane, the others served in order; lanes are
independent; a waiter cancelled before or just as its turn comes never leaks a slot."""

from __future__ import annotations

import asyncio

from telepush.delivery.lanes import LaneGate


async def test_limit_per_lane_in_order_and_lanes_apart() -> None:
    gate = LaneGate()
    release = {n: asyncio.Event() for n in range(5)}
    order: list[int] = []

    async def hold(n: int, lane: str) -> None:
        async with gate.slot(lane, 2):
            order.append(n)
            await release[n].wait()

    tasks = [asyncio.create_task(hold(n, "a")) for n in range(4)]
    other = asyncio.create_task(hold(4, "b"))
    await asyncio.sleep(0.01)
    assert sorted(order) == [0, 1, 4]  # two of lane a, and lane b's own
    assert (gate.running("a"), gate.waiting("a")) == (2, 2)
    release[1].set()
    await asyncio.sleep(0.01)
    assert order[-1] == 2  # the oldest waiter goes next
    for n in (0, 2, 3, 4):
        release[n].set()
    await asyncio.gather(*tasks, other)
    assert order[-1] == 3
    assert (gate.running("a"), gate.waiting("a"), gate.running("b")) == (0, 0, 0)


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    gate = LaneGate()
    held = asyncio.Event()
    done = asyncio.Event()

    async def hold() -> None:
        async with gate.slot("a", 1):
            held.set()
            await done.wait()

    async def wait_turn() -> None:
        async with gate.slot("a", 1):
            pass

    first = asyncio.create_task(hold())
    await held.wait()
    waiter = asyncio.create_task(wait_turn())
    await asyncio.sleep(0.01)
    assert gate.waiting("a") == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert gate.waiting("a") == 0
    done.set()
    await first
    assert gate.running("a") == 0


async def test_a_waiter_cancelled_as_its_turn_comes_passes_the_slot_on() -> None:
    gate = LaneGate()
    done = asyncio.Event()
    got: list[str] = []
    waiters: list[asyncio.Task[None]] = []

    async def hold() -> None:
        async with gate.slot("a", 1):
            await done.wait()
        # the slot was just handed to the first waiter, which has not run yet
        waiters[0].cancel()

    async def take(name: str) -> None:
        async with gate.slot("a", 1):
            got.append(name)

    first = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiters += [asyncio.create_task(take("second")), asyncio.create_task(take("third"))]
    await asyncio.sleep(0.01)
    done.set()
    await asyncio.gather(first, *waiters, return_exceptions=True)
    assert waiters[0].cancelled()
    assert got == ["third"]
    assert (gate.running("a"), gate.waiting("a")) == (0, 0)


async def test_no_limit_means_no_wait() -> None:
    gate = LaneGate()
    async with gate.slot("a", 0), gate.slot("a", 0):
        assert gate.running("a") == 0


async def test_a_waiter_cancelled_before_the_release_passes_the_slot_on() -> None:
    """Cancelled in the same turn as the slot is released: its future is already cancelled
    when the slot comes, so it is not handed the slot but passes it on."""
    gate = LaneGate()
    await gate.acquire("a", 1)
    got: list[str] = []

    async def take(name: str) -> None:
        async with gate.slot("a", 1):
            got.append(name)

    second = asyncio.create_task(take("second"))
    third = asyncio.create_task(take("third"))
    await asyncio.sleep(0.01)
    second.cancel()
    gate.release("a", 1)
    await asyncio.gather(second, third, return_exceptions=True)
    assert second.cancelled()
    assert got == ["third"]
    assert (gate.running("a"), gate.waiting("a")) == (0, 0)
