"""Retention in a running telepush: the policy from settings, one purge-and-compact run, and
the periodic task ``telepush serve`` runs (``telepush purge`` runs it once).

Payloads hold personal data: a delivered one is erased ``retention_delivered_days`` after it
was delivered, a failed one ``retention_failed_days`` after it failed (time to replay it);
delivery records and their attempts go ``retention_metadata_days`` after they ended, and
per-minute endpoint figures after 7 days. Each run then compacts the store so the erased
bytes leave the database files (see ``Store.compact``). The log line says how much went,
never what.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from telepush.config import Settings
from telepush.domain.retention import PurgeResult, RetentionPolicy
from telepush.errors import ConfigError
from telepush.store.base import Store

log = logging.getLogger("telepush.retention")


def retention_policy(settings: Settings) -> RetentionPolicy:
    """The policy the settings describe; ``ConfigError`` when they contradict each other."""
    try:
        return RetentionPolicy(
            delivered=timedelta(days=settings.retention_delivered_days),
            failed=timedelta(days=settings.retention_failed_days),
            metadata=timedelta(days=settings.retention_metadata_days),
        )
    except ValueError:
        raise ConfigError(
            f"retention_metadata_days ({settings.retention_metadata_days:g}) must be at least "
            f"retention_delivered_days ({settings.retention_delivered_days:g}) and "
            f"retention_failed_days ({settings.retention_failed_days:g}): a delivery's record "
            "outlives its payload",
            field="retention_metadata_days",
        ) from None


async def purge_once(
    store: Store, policy: RetentionPolicy, now: datetime, *, full: bool = False
) -> PurgeResult:
    """Erase and remove what ``policy`` says is old at ``now``, then compact the store."""
    started = time.monotonic()
    result = await store.purge(policy.cutoffs(now))
    await store.compact(full=full)
    log.info(
        "retention: erased %d payloads, removed %d deliveries (with their attempts) and "
        "%d minutes of endpoint figures, compacted in %.1f s",
        result.payloads_erased,
        result.deliveries_removed,
        result.minutes_removed,
        time.monotonic() - started,
    )
    return result


async def retention_loop(
    store: Store,
    policy: RetentionPolicy,
    *,
    interval_s: float,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
) -> None:
    """Purge and compact now, then every ``interval_s`` until ``stop`` is set. A failed run
    is logged and the next one tries again; it never ends the process. When ``stop`` comes
    during a run, the run is abandoned so that stopping does not wait for a long purge: each
    chunk is a transaction of its own, committed whole or not at all, and the next run
    takes over where this one stopped."""
    stopping = asyncio.ensure_future(stop.wait())
    run: asyncio.Future[PurgeResult] | None = None
    try:
        while not stop.is_set():
            run = asyncio.ensure_future(purge_once(store, policy, clock()))
            await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                log.info("retention run interrupted by the stop; the next start resumes it")
                return
            if not run.cancelled() and run.exception() is not None:
                log.error(
                    "retention run failed; trying again in %.0f s",
                    interval_s,
                    exc_info=run.exception(),
                )
            run = None
            await asyncio.wait({stopping}, timeout=interval_s)
    finally:
        stopping.cancel()
        if run is not None and not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
