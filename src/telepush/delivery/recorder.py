"""Collects attempt outcomes for a few milliseconds and records them in one transaction."""

from __future__ import annotations

import asyncio
import logging

from telepush.domain.delivery import Outcome
from telepush.store.base import Store

log = logging.getLogger("telepush.worker")


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        worker_id: str,
        linger_s: float = 0.005,
        max_batch: int = 500,
        retry_s: float = 1.0,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.retry_s = retry_s
        self._pending: list[Outcome] = []
        self._ready = asyncio.Event()
        self._closing = False
        self.recorded = 0

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._ready.set()

    async def close(self) -> None:
        """Stop after writing everything added so far."""
        self._closing = True
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            if not self._closing and len(self._pending) < self.max_batch:
                await asyncio.sleep(self.linger_s)  # let outcomes that finish together gather
            self._ready.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                try:
                    await self.store.record(batch, worker_id=self.worker_id)
                except Exception:
                    if self._closing:
                        log.exception("could not record %d outcomes at shutdown", len(batch))
                        return
                    log.exception("recording outcomes failed; retrying in %.1fs", self.retry_s)
                    await asyncio.sleep(self.retry_s)
                    continue
                del self._pending[: len(batch)]
                self.recorded += len(batch)
            if self._closing:
                return
