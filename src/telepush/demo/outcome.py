"""What the demo ended with: deliveries per service and status, and what the receiver kept.

Counted from telepush's own listing (``GET /v1/deliveries``): a delivery *retried* is one that
was delivered after more than one attempt (``attemptCount > 1``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telepush.synth import SERVICES

FINAL = frozenset({"delivered", "failed", "superseded"})


@dataclass
class Tally:
    """Deliveries of one service (or all) by what became of them."""

    pushed: int = 0
    delivered: int = 0
    retried: int = 0
    superseded: int = 0
    failed: int = 0
    unfinished: int = 0

    def add(self, other: Tally) -> None:
        self.pushed += other.pushed
        self.delivered += other.delivered
        self.retried += other.retried
        self.superseded += other.superseded
        self.failed += other.failed
        self.unfinished += other.unfinished


def tally(deliveries: Iterable[Mapping[str, Any]]) -> dict[str, Tally]:
    """Per service, in catalogue order, from the API's delivery listing."""
    per_service = {service: Tally() for service in SERVICES}
    for item in deliveries:
        counts = per_service.setdefault(str(item["service"]), Tally())
        counts.pushed += 1
        status = item["status"]
        if status == "delivered":
            counts.delivered += 1
            counts.retried += int(item.get("attemptCount", 0)) > 1
        elif status == "superseded":
            counts.superseded += 1
        elif status == "failed":
            counts.failed += 1
        else:
            counts.unfinished += 1
    return per_service


def unfinished(stats: Mapping[str, int]) -> int:
    """Deliveries still waiting or in flight, from ``GET /v1/stats`` counts."""
    return sum(n for status, n in stats.items() if status not in FINAL)


@dataclass
class Outcome:
    per_service: dict[str, Tally]
    receiver: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    timed_out: bool = False

    @property
    def total(self) -> Tally:
        total = Tally()
        for counts in self.per_service.values():
            total.add(counts)
        return total

    @property
    def ok(self) -> bool:
        total = self.total
        return not self.timed_out and total.failed == 0 and total.unfinished == 0

    def line(self) -> str:
        """One machine-readable line: ``summary: delivered=… retried=… …``."""
        total = self.total
        trips = self.per_service.get("trip", Tally())
        deletions = self.per_service.get("deleted-trip", Tally())
        fields = {
            "delivered": total.delivered,
            "retried": total.retried,
            "superseded": total.superseded,
            "failed": total.failed,
            "unfinished": total.unfinished,
            "trips": trips.pushed,
            "trips_delivered": trips.delivered,
            "deletions_delivered": deletions.delivered,
            "elapsed_s": f"{self.elapsed_s:.1f}",
        }
        return "summary: " + " ".join(f"{k}={v}" for k, v in fields.items())
