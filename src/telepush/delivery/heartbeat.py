"""Worker heartbeats: a worker says it is alive every few seconds, and goodbye when it stops.

Operators see the live workers (``GET /v1/workers``); a row that stops moving belongs to a
process that died, whose leases expire and are reclaimed by the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime

from telepush.domain.delivery import HEARTBEAT_INTERVAL_S
from telepush.store.base import Store

log = logging.getLogger("telepush.worker")


async def beat(
    store: Store,
    worker_id: str,
    *,
    clock: Callable[[], datetime],
    in_flight: Callable[[], int],
    stop: asyncio.Event,
    interval_s: float = HEARTBEAT_INTERVAL_S,
) -> None:
    """Beat until ``stop`` is set, then remove the worker's row."""
    host, pid = socket.gethostname(), os.getpid()
    try:
        while not stop.is_set():
            try:
                await store.heartbeat(worker_id, clock(), host=host, pid=pid, in_flight=in_flight())
            except Exception as exc:  # the store is down: the claim loop reports it too
                log.warning("heartbeat of %s failed: %s", worker_id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
    finally:
        try:
            await store.forget_worker(worker_id)
        except Exception as exc:
            log.warning("could not remove worker %s from the list: %s", worker_id, exc)
