"""Retention in the runtime: the policy from settings, and the periodic purge-and-compact."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, cast

import pytest

from telepush.config import Settings
from telepush.domain.retention import PurgeCutoffs, PurgeResult, RetentionPolicy
from telepush.errors import ConfigError, StoreError
from telepush.housekeeping import purge_once, retention_loop, retention_policy
from telepush.store.base import Store
from telepush.testing import FakeClock


class FakeStore:
    """Records purges and compactions; can fail or hang on purge."""

    def __init__(self, *, fail_first: bool = False, hang: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_first = fail_first
        self.hang = hang
        self.cancelled = False

    async def purge(self, cutoffs: PurgeCutoffs, *, chunk: int = 5000) -> PurgeResult:
        self.calls.append(("purge", cutoffs))
        if self.fail_first:
            self.fail_first = False
            raise StoreError("database is locked")
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return PurgeResult(payloads_erased=3, deliveries_removed=2, minutes_removed=1)

    async def compact(self, *, full: bool = False) -> None:
        self.calls.append(("compact", full))


def test_policy_from_settings() -> None:
    settings = Settings(
        retention_delivered_days=2, retention_failed_days=10, retention_metadata_days=30
    )
    assert retention_policy(settings) == RetentionPolicy(
        delivered=timedelta(days=2), failed=timedelta(days=10), metadata=timedelta(days=30)
    )


def test_contradictory_settings_are_a_config_error() -> None:
    settings = Settings(retention_failed_days=30, retention_metadata_days=10)
    with pytest.raises(ConfigError) as info:
        retention_policy(settings)
    assert info.value.field == "retention_metadata_days"
    assert "retention_failed_days (30)" in info.value.message


async def test_purge_once_purges_then_compacts_and_logs_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="telepush.retention")
    result = await purge_once(cast(Store, store), RetentionPolicy(), clock.now(), full=True)
    assert result.payloads_erased == 3
    assert store.calls == [("purge", RetentionPolicy().cutoffs(clock.now())), ("compact", True)]
    [line] = [r.getMessage() for r in caplog.records if r.name == "telepush.retention"]
    assert "erased 3 payloads" in line and "removed 2 deliveries" in line


async def test_the_loop_runs_at_once_then_every_interval_and_survives_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore(fail_first=True)
    stop = asyncio.Event()
    clock = FakeClock()
    task = asyncio.create_task(
        retention_loop(
            cast(Store, store), RetentionPolicy(), interval_s=0.05, clock=clock.now, stop=stop
        )
    )
    for _ in range(200):
        if sum(1 for name, _ in store.calls if name == "compact") >= 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert [name for name, _ in store.calls][:3] == ["purge", "purge", "compact"]
    assert any("retention run failed" in r.getMessage() for r in caplog.records)


async def test_a_stop_interrupts_a_long_run() -> None:
    store = FakeStore(hang=True)
    stop = asyncio.Event()
    task = asyncio.create_task(
        retention_loop(
            cast(Store, store),
            RetentionPolicy(),
            interval_s=3600,
            clock=FakeClock().now,
            stop=stop,
        )
    )
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert store.cancelled
