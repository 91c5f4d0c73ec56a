"""How long what is kept: payloads, then delivery metadata and attempts. No I/O here.

Payloads hold personal data (locations, names, e-mail addresses): a delivered one is erased
after ``delivered`` (default 7 days), a failed one after ``failed`` (default 30 days, time to
replay it); superseded ones are erased at once. Metadata and attempts (ids, statuses, codes,
times: no personal data) stay for ``metadata`` (default 90 days) after the delivery ended,
and per-minute endpoint figures for ``figures`` (default 7 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    delivered: timedelta = timedelta(days=7)
    failed: timedelta = timedelta(days=30)
    metadata: timedelta = timedelta(days=90)
    figures: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        for name in ("delivered", "failed", "metadata", "figures"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"retention '{name}' must be a positive duration")
        if self.metadata < max(self.delivered, self.failed):
            raise ValueError(
                "retention 'metadata' must be at least as long as 'delivered' and 'failed': "
                "a delivery's record outlives its payload"
            )

    def cutoffs(self, now: datetime) -> PurgeCutoffs:
        return PurgeCutoffs(
            delivered_before=now - self.delivered,
            failed_before=now - self.failed,
            metadata_before=now - self.metadata,
            figures_before=now - self.figures,
        )


@dataclass(frozen=True)
class PurgeCutoffs:
    """Instants before which a delivery's end (its ``updated_at`` once final) or a figure's
    minute is old enough to go."""

    delivered_before: datetime
    failed_before: datetime
    metadata_before: datetime
    figures_before: datetime


@dataclass(frozen=True)
class PurgeResult:
    payloads_erased: int = 0
    deliveries_removed: int = 0  # metadata and attempts
    minutes_removed: int = 0  # per-minute endpoint figures

    def __add__(self, other: PurgeResult) -> PurgeResult:
        return PurgeResult(
            self.payloads_erased + other.payloads_erased,
            self.deliveries_removed + other.deliveries_removed,
            self.minutes_removed + other.minutes_removed,
        )
