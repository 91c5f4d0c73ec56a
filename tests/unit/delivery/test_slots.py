"""EndpointSlots: the per-endpoint limit on requests in flight, with claimed ones waiting."""

from __future__ import annotations

from datetime import UTC, datetime

from telepush.delivery.slots import EndpointSlots
from telepush.domain.delivery import Claimed


def claimed(n: int, customer: str = "c1", service: str = "trip") -> Claimed:
    return Claimed(f"d{n}", customer, service, None, b"{}", datetime.now(UTC), 1, 1)


def test_items_start_up_to_the_limit_then_wait_in_order() -> None:
    started: list[str] = []
    slots = EndpointSlots(2, lambda item: started.append(item.delivery_id))
    items = [claimed(n) for n in range(5)]
    for item in items:
        slots.add(item)
    assert started == ["d0", "d1"] and slots.waiting == 3
    slots.done(items[1])
    assert started == ["d0", "d1", "d2"] and slots.waiting == 2
    slots.done(items[0])
    slots.done(items[2])
    assert started == ["d0", "d1", "d2", "d3", "d4"] and slots.waiting == 0


def test_endpoints_do_not_share_slots() -> None:
    """A full endpoint (a hung one, say) does not hold back another's deliveries."""
    started: list[str] = []
    slots = EndpointSlots(1, lambda item: started.append(item.delivery_id))
    slots.add(claimed(0, customer="hung"))
    slots.add(claimed(1, customer="hung"))
    slots.add(claimed(2, customer="ok"))
    slots.add(claimed(3, service="crash", customer="hung"))
    assert started == ["d0", "d2", "d3"] and slots.waiting == 1


def test_take_waiting_hands_back_what_never_started() -> None:
    started: list[str] = []
    slots = EndpointSlots(1, lambda item: started.append(item.delivery_id))
    items = [claimed(n) for n in range(3)]
    for item in items:
        slots.add(item)
    assert [i.delivery_id for i in slots.take_waiting()] == ["d1", "d2"]
    assert slots.waiting == 0
    slots.done(items[0])  # nothing left to start
    assert started == ["d0"]
