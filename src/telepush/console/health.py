"""Endpoint health, pausing by hand, and the figures behind the dashboard's charts."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from telepush.domain.delivery import Status
from telepush.domain.health import EndpointHealth, MinuteStats
from telepush.errors import InvalidInput, NotFound
from telepush.operations import Operations
from telepush.store.base import Store

log = logging.getLogger("telepush.health")

MAX_WINDOW_MINUTES = 7 * 24 * 60


class Endpoints:
    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    @property
    def store(self) -> Store:
        return self.ops.store

    async def health(
        self, *, window_minutes: int = 60, customer_id: str | None = None
    ) -> list[EndpointHealth]:
        check_window(window_minutes)
        if customer_id is not None:
            await self.ops.get_customer(customer_id)
        now = self.ops.clock()
        return await self.store.endpoint_health(
            now=now, since=now - timedelta(minutes=window_minutes), customer_id=customer_id
        )

    async def one(self, customer_id: str, service: str, window_minutes: int = 60) -> EndpointHealth:
        for item in await self.health(window_minutes=window_minutes, customer_id=customer_id):
            if item.service == service:
                return item
        raise NotFound(f"customer '{customer_id}' has no '{service}' service", field="service")

    async def set_paused(self, customer_id: str, service: str, paused: bool) -> EndpointHealth:
        await self.ops.check_endpoint(customer_id, service)
        if not await self.store.set_paused(customer_id, service, paused, self.ops.clock()):
            raise NotFound(f"customer '{customer_id}' has no '{service}' service", field="service")
        log.info(
            "endpoint %s/%s %s by hand",
            customer_id,
            service,
            "paused" if paused else "resumed",
            extra={"customer_id": customer_id, "service": service},
        )
        if not paused:
            self.ops.notify()  # its backlog is due again
        return await self.one(customer_id, service)

    async def throughput(
        self, *, minutes: int = 60, customer_id: str | None = None
    ) -> list[MinuteStats]:
        check_window(minutes)
        since = self.ops.clock() - timedelta(minutes=minutes)
        return await self.store.throughput(since=since, customer_id=customer_id)


def check_window(minutes: int) -> None:
    if not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise InvalidInput(
            f"window must be between 1 and {MAX_WINDOW_MINUTES} minutes", field="windowMinutes"
        )


@dataclass(frozen=True)
class DepthSample:
    at: datetime
    counts: dict[Status, int]


class DepthHistory:
    """Queue depth by status, sampled every ``every_s`` by the API process and kept for
    ``keep`` samples (an hour by default): the dashboard's "queue over time" chart. Held in
    memory: a restart starts a new history (the per-minute throughput is in the store)."""

    def __init__(self, ops: Operations, *, every_s: float = 15.0, keep: int = 240) -> None:
        self.ops = ops
        self.every_s = every_s
        self.samples: deque[DepthSample] = deque(maxlen=keep)

    async def sample(self) -> DepthSample:
        sample = DepthSample(self.ops.clock(), await self.ops.count_by_status())
        self.samples.append(sample)
        return sample

    def since(self, since: datetime) -> list[DepthSample]:
        return [s for s in self.samples if s.at >= since]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample()
            except Exception:
                log.exception("sampling the queue depth failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
            except TimeoutError:
                pass
