"""Maintenance commands: ``telepush purge`` erases, now, what retention says is old."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from telepush.cli.common import console, root, run
from telepush.domain.retention import PurgeResult
from telepush.housekeeping import purge_once, retention_policy
from telepush.operations import utcnow
from telepush.runtime import opened_store


def register(app: typer.Typer) -> None:
    app.command()(purge)


def purge(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full/--no-full",
            help="Also rebuild the database files (SQLite VACUUM, PostgreSQL VACUUM FULL); "
            "writes wait (and may time out) while it runs: for a quiet moment.",
        ),
    ] = False,
) -> None:
    """Erase old payloads and remove old delivery records now, then compact the database.

    Payloads hold personal data. A delivered payload is erased
    [bold]retention_delivered_days[/bold] (default 7) after it was delivered; a failed one
    [bold]retention_failed_days[/bold] (default 30) after it failed (until then it can be
    replayed). A delivery's record and attempts (no payload data) are removed
    [bold]retention_metadata_days[/bold] (default 90, at least both others) after it ended;
    per-minute endpoint figures after 7 days. Pending and in-flight deliveries are never
    touched. Set them as TELEPUSH_RETENTION_DELIVERED_DAYS, TELEPUSH_RETENTION_FAILED_DAYS,
    TELEPUSH_RETENTION_METADATA_DAYS or in the TOML file.

    Compaction makes the erasure physical: on SQLite no erased byte stays in the database
    files; on PostgreSQL, VACUUM prunes the erased rows (see docs/postgres.md for what it
    does not guarantee).

    `telepush serve` and `telepush worker` do the same at start and then every
    [bold]retention_interval_s[/bold] seconds (TELEPUSH_RETENTION_INTERVAL_S, default 3600;
    0: only when this command runs)."""
    settings = root(ctx).settings()
    now = utcnow()

    async def _go() -> PurgeResult:
        policy = retention_policy(settings)
        async with opened_store(settings, migrate=True) as store:
            return await purge_once(store, policy, now, full=full)

    result = run(_go())
    cutoffs = retention_policy(settings).cutoffs(now)
    console.print(
        f"erased {result.payloads_erased} payload(s): delivered before "
        f"{_at(cutoffs.delivered_before)}, failed before {_at(cutoffs.failed_before)}"
    )
    console.print(
        f"removed {result.deliveries_removed} delivery record(s) with their attempts: ended "
        f"before {_at(cutoffs.metadata_before)}"
    )
    console.print(
        f"removed {result.minutes_removed} minute(s) of endpoint figures: before "
        f"{_at(cutoffs.figures_before)}"
    )
    console.print("database compacted" + (" and rebuilt" if full else ""))


def _at(instant: datetime) -> str:
    return instant.isoformat(timespec="seconds")
