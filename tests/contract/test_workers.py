"""Store contract: worker heartbeats."""

from __future__ import annotations

from telepush.store.base import Store
from telepush.testing import FakeClock


async def test_heartbeat_creates_then_updates(store: Store, clock: FakeClock) -> None:
    """The first beat records the worker; later beats move last_seen_at and in_flight only."""
    started = clock.now()
    await store.heartbeat("w1", started, host="h1", pid=11, in_flight=0)
    later = clock.advance(5)
    await store.heartbeat("w1", later, host="h1", pid=11, in_flight=7)
    [info] = await store.list_workers()
    assert (info.worker_id, info.host, info.pid, info.in_flight) == ("w1", "h1", 11, 7)
    assert info.started_at == started and info.last_seen_at == later


async def test_workers_listed_oldest_first_and_forgotten(store: Store, clock: FakeClock) -> None:
    """Workers are listed by start; a cleanly stopped one is removed, the others stay."""
    await store.heartbeat("w2", clock.now(), host="h", pid=2, in_flight=0)
    await store.heartbeat("w1", clock.advance(1), host="h", pid=1, in_flight=0)
    assert [w.worker_id for w in await store.list_workers()] == ["w2", "w1"]
    await store.forget_worker("w2")
    await store.forget_worker("never-seen")
    assert [w.worker_id for w in await store.list_workers()] == ["w1"]
