"""Collects attempt outcomes and records them in batches, one transaction each.

Most batches ride along with the worker's next claim (``take`` / ``written`` /
``give_back``): the SQLite store then records and claims in one transaction. What no claim
has taken after ``linger_s`` the recorder writes on its own.
"""

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
        linger_s: float = 0.01,
        max_batch: int = 500,
        retry_s: float = 1.0,
        on_recorded: Callable[[], None] | None = None,
        pause_after: int = 0,
    ) -> None:
        """``on_recorded`` is called when a batch is handed to the store and again once it
        is committed: the leases it ends are free then, so the worker may claim more of the
        same endpoints.

        ``linger_s``: how long outcomes wait for a claim to take them before the recorder
        writes them itself. Short: an outcome not yet recorded is a delivery sent again if
        the process dies. (The claim does not wait for it: attempts that are over do not
        count against their endpoint's limit.)

        ``pause_after`` > 0 arms the store's circuit breaker: an endpoint is paused after
        that many consecutive failed attempts."""
        self.store = store
        self.worker_id = worker_id
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.retry_s = retry_s
        self.pause_after = pause_after
        self._pending: list[Outcome] = []  # not handed to the store yet
        self._pending_since = 0.0  # loop time the oldest of them was added (about)
        self._writing: list[list[Outcome]] = []  # batches handed to the store, not committed
        self._ready = asyncio.Event()
        self._closing = False
        self._on_recorded = on_recorded
        self.recorded = 0

    @property
    def unrecorded(self) -> int:
        """Outcomes added and not committed yet: their leases are still held."""
        return len(self._pending) + sum(map(len, self._writing))

    def unrecorded_ids(self) -> list[str]:
        """Delivery ids of those outcomes: attempts over, leases not yet ended."""
        ids = [outcome.delivery_id for outcome in self._pending]
        for batch in self._writing:
            ids.extend(outcome.delivery_id for outcome in batch)
        return ids

    def add(self, outcome: Outcome) -> None:
        if not self._pending:
            self._pending_since = asyncio.get_running_loop().time()
        self._pending.append(outcome)
        self._ready.set()

    def take(self) -> list[Outcome]:
        """The outcomes waiting, up to ``max_batch``, for the caller to write; it then calls
        ``written`` once they are committed or ``give_back`` if that failed."""
        batch = self._pending[: self.max_batch]
        if batch:
            del self._pending[: len(batch)]
            self._writing.append(batch)
            self._pending_since = asyncio.get_running_loop().time()  # of what is left
            self._notify()
        return batch

    def written(self, batch: list[Outcome]) -> None:
        """``batch`` (from ``take``) is committed."""
        if batch:
            self._forget(batch)
            self.recorded += len(batch)
            self._notify()

    def give_back(self, batch: list[Outcome]) -> None:
        """``batch`` (from ``take``) was not written: it goes first in the next one."""
        if batch:
            self._forget(batch)
            self._pending[:0] = batch
            self._ready.set()

    def _forget(self, batch: list[Outcome]) -> None:
        self._writing = [b for b in self._writing if b is not batch]

    async def close(self) -> None:
        """Stop after writing everything added so far."""
        self._closing = True
        self._ready.set()

    def _notify(self) -> None:
        if self._on_recorded is not None:
            self._on_recorded()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                wait = self._pending_since + self.linger_s - loop.time()
                if wait > 0 and not self._closing and len(self._pending) < self.max_batch:
                    # the worker's next claim may take them meanwhile
                    await asyncio.sleep(wait)
                    continue
                batch = self.take()
                try:
                    await self.store.record(
                        batch, worker_id=self.worker_id, pause_after=self.pause_after
                    )
                except Exception:
                    self.give_back(batch)
                    if self._closing:
                        log.exception("could not record %d outcomes at shutdown", len(batch))
                        return
                    log.exception("recording outcomes failed; retrying in %.1fs", self.retry_s)
                    await asyncio.sleep(self.retry_s)
                    continue
                self.written(batch)
            if self._closing:
                return
