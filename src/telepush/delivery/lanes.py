"""At most ``limit`` posts at a time per lane (a customer endpoint), the others waiting in
order: how a delivery process keeps the per-endpoint limit on the requests it makes.

With delivery processes the worker hands every delivery it has leased (up to the limit and
the deliveries claimed ahead) to the delivery processes, each keeping its share of the
endpoint's limit, which start the next one the moment a reply is in, without a round trip
to the worker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class LaneGate:
    def __init__(self) -> None:
        self._running: dict[Hashable, int] = {}
        self._waiting: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def running(self, lane: Hashable) -> int:
        return self._running.get(lane, 0)

    def waiting(self, lane: Hashable) -> int:
        return len(self._waiting.get(lane, ()))

    @asynccontextmanager
    async def slot(self, lane: Hashable, limit: int) -> AsyncIterator[None]:
        """Hold one of ``lane``'s ``limit`` slots (no limit when ``limit`` <= 0)."""
        await self.acquire(lane, limit)
        try:
            yield
        finally:
            self.release(lane, limit)

    async def acquire(self, lane: Hashable, limit: int) -> None:
        """Take one of ``lane``'s ``limit`` slots, waiting in line for it when all are
        taken (at once when ``limit`` <= 0); ``release`` it after."""
        if limit <= 0:
            return
        running = self._running.get(lane, 0)
        if running < limit and lane not in self._waiting:
            self._running[lane] = running + 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(lane, deque()).append(turn)
        try:
            await turn  # _release hands its slot over: the count stays
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed a slot just as it was cancelled
                self._release(lane)
            else:
                self._forget(lane, turn)
            raise

    def release(self, lane: Hashable, limit: int) -> None:
        if limit > 0:
            self._release(lane)

    def _release(self, lane: Hashable) -> None:
        queue = self._waiting.get(lane)
        while queue:
            turn = queue.popleft()
            if not queue:
                del self._waiting[lane]
            if not turn.done():
                turn.set_result(None)  # the slot passes to the next in line
                return
        running = self._running.get(lane, 0) - 1
        if running > 0:
            self._running[lane] = running
        else:
            self._running.pop(lane, None)

    def _forget(self, lane: Hashable, turn: asyncio.Future[None]) -> None:
        queue = self._waiting.get(lane)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._waiting[lane]
