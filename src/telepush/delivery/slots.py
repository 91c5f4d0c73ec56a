"""Per-endpoint slots: claimed deliveries wait here until their endpoint has room.

The store's claim bounds the leases of an endpoint. A worker that claims *ahead* (a few more
leases than the endpoint may have requests in flight, so that a slot freed while the next
claim is on its way is filled at once: ``Store.claim(prefetch=...)``) needs the endpoint's
limit kept here, on requests actually sent: an endpoint never has more than ``limit`` of
this worker's requests in flight, and the rest of its claimed deliveries wait their turn,
oldest first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from telepush.domain.delivery import Claimed

Endpoint = tuple[str, str]  # (customer id, service)


class EndpointSlots:
    def __init__(self, limit: int, start: Callable[[Claimed], None]) -> None:
        """``start(item)`` begins sending ``item``; call ``done(item)`` when it is over."""
        self.limit = limit
        self._start = start
        self._running: dict[Endpoint, int] = {}
        self._waiting: dict[Endpoint, deque[Claimed]] = {}
        self.waiting = 0  # claimed, not started, over every endpoint

    def add(self, item: Claimed) -> None:
        """Start ``item`` now if its endpoint has a free slot, or when it has one."""
        endpoint = (item.customer_id, item.service)
        queue = self._waiting.get(endpoint)
        if queue is None and self._running.get(endpoint, 0) < self.limit:
            self._run(endpoint, item)
            return
        if queue is None:
            queue = self._waiting[endpoint] = deque()
        queue.append(item)
        self.waiting += 1

    def done(self, item: Claimed) -> None:
        """``item``'s attempt is over: its slot goes to the endpoint's next waiting item."""
        endpoint = (item.customer_id, item.service)
        running = self._running.get(endpoint, 0) - 1
        if running > 0:
            self._running[endpoint] = running
        else:
            self._running.pop(endpoint, None)
        queue = self._waiting.get(endpoint)
        if queue:
            following = queue.popleft()
            self.waiting -= 1
            if not queue:
                del self._waiting[endpoint]
            self._run(endpoint, following)

    def take_waiting(self) -> list[Claimed]:
        """Every item not started yet, which no longer waits (to be released)."""
        items = [item for queue in self._waiting.values() for item in queue]
        self._waiting.clear()
        self.waiting = 0
        return items

    def _run(self, endpoint: Endpoint, item: Claimed) -> None:
        self._running[endpoint] = self._running.get(endpoint, 0) + 1
        self._start(item)
