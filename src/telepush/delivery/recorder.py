"""Collects attempt outcomes for a few milliseconds and records them in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from telepush.domain.delivery import Outcome
from telepush.store.base import Store

log = logging.getLogger("telepush.worker")


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        worker_id: str,
        linger_s: float = 0.0,
        max_batch: int = 500,
        retry_s: float = 1.0,
        on_recorded: Callable[[], None] | None = None,
        pause_after: int = 0,
    ) -> None:
        """``on_recorded`` is called when a batch is handed to the store and again once it
        is committed: the leases it ends are free then, so the worker may claim more of the
        same endpoints. The first call lets a claim queue right behind the write (the SQLite
        store runs them in order, often in the same transaction); the second covers stores
        where a claim may overtake the write.

        ``linger_s`` is 0 by default: outcomes that finish while a batch is being written
        gather by themselves and go in the next one, so waiting on purpose only adds latency
        (and, with per-endpoint slots counted from live leases, lowers throughput).

        ``pause_after`` > 0 arms the store's circuit breaker: an endpoint is paused after
        that many consecutive failed attempts."""
        self.store = store
        self.worker_id = worker_id
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.retry_s = retry_s
        self.pause_after = pause_after
        self._pending: list[Outcome] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._on_recorded = on_recorded
        self.recorded = 0

    @property
    def unrecorded(self) -> int:
        """Outcomes added and not committed yet: their leases are still held."""
        return len(self._pending)

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._ready.set()

    async def close(self) -> None:
        """Stop after writing everything added so far."""
        self._closing = True
        self._ready.set()

    def _notify(self) -> None:
        if self._on_recorded is not None:
            self._on_recorded()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            if not self._closing and len(self._pending) < self.max_batch:
                # let outcomes that finish in the same turn of the loop (or within linger_s)
                # gather
                await asyncio.sleep(self.linger_s)
            self._ready.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                writing = asyncio.ensure_future(
                    self.store.record(batch, worker_id=self.worker_id, pause_after=self.pause_after)
                )
                self._notify()
                try:
                    await writing
                except Exception:
                    if self._closing:
                        log.exception("could not record %d outcomes at shutdown", len(batch))
                        return
                    log.exception("recording outcomes failed; retrying in %.1fs", self.retry_s)
                    await asyncio.sleep(self.retry_s)
                    continue
                del self._pending[: len(batch)]
                self.recorded += len(batch)
                self._notify()
            if self._closing:
                return
