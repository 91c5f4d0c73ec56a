"""Retention's purge, run in chunks the same way on both stores.

Each backend's retention module (``sqlite_retention``, ``postgres_retention``) supplies the
phases, with the same names and arguments: ``erase_payloads`` and ``remove_deliveries``
(keyset-paged by ``seq``), ``remove_figures`` (until nothing is left), ``remove_tasks``.
``write`` runs one phase step in one transaction (the SQLite writer's ``run``, PostgreSQL's
``write``), so claims and ingest go on between chunks.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from telepush.domain.retention import PurgeResult


@dataclass(frozen=True)
class Step:
    """What one chunk did, and where the next one starts (None: this phase is over)."""

    result: PurgeResult
    next_seq: int | None


async def purge_in_chunks(
    write: Callable[[Callable[[Any], Any]], Awaitable[Any]],
    phases: ModuleType,
    cutoffs: Any,
    chunk: int,
) -> PurgeResult:
    """Every phase of ``phases`` with ``cutoffs`` (the backend's own form), ``chunk`` rows
    per transaction; the totals."""
    total = PurgeResult()
    for phase in (phases.erase_payloads, phases.remove_deliveries):
        after: int | None = 0
        while after is not None:
            step: Step = await write(
                functools.partial(phase, cutoffs=cutoffs, after=after, chunk=chunk)
            )
            total, after = total + step.result, step.next_seq
    more = True
    while more:
        step = await write(functools.partial(phases.remove_figures, cutoffs=cutoffs, chunk=chunk))
        total, more = total + step.result, step.next_seq is not None
    await write(functools.partial(phases.remove_tasks, cutoffs=cutoffs))
    return total
