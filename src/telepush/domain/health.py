"""Endpoint health: the circuit breaker's states and the figures an operator looks at.

A store keeps, per endpoint (customer, service), its breaker state and failure streak, and
minute by minute how many attempts it made, how many failed, and their durations counted in
the buckets of ``LATENCY_BOUNDS_MS``; percentiles are read off those buckets (the upper
bound of the bucket holding the rank, like Prometheus' ``histogram_quantile`` without the
interpolation). No I/O here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Upper bounds (ms) of the attempt-duration buckets; one more bucket holds what is longer.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
)  # fmt: skip
N_LATENCY_BUCKETS = len(LATENCY_BOUNDS_MS) + 1


class PauseReason(StrEnum):
    MANUAL = "manual"  # an operator paused it: nothing is sent until resumed
    BREAKER = "breaker"  # too many consecutive failures: one probe at a time checks recovery


def latency_bucket(duration_ms: int) -> int:
    """Index of the bucket counting an attempt of ``duration_ms``."""
    return bisect_left(LATENCY_BOUNDS_MS, duration_ms)


def percentile(counts: Sequence[int], q: float) -> int | None:
    """The ``q`` quantile (0 < q <= 1) of durations counted in ``counts`` (one per bucket), as
    the upper bound in ms of the bucket that holds it; the last, open bucket reports the
    largest bound. None when nothing was counted."""
    if not 0 < q <= 1:
        raise ValueError(f"a quantile is in (0, 1], not {q}")
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


@dataclass(frozen=True)
class EndpointHealth:
    """One endpoint as an operator sees it: breaker state, streak and recent figures.

    ``attempts`` .. ``retried`` and the latency percentiles cover the window asked for
    (``since`` .. now); ``pending`` is the endpoint's queue right now."""

    customer_id: str
    service: str
    enabled: bool
    paused: PauseReason | None
    paused_at: datetime | None
    probe_at: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pending: int
    attempts: int
    failures: int
    delivered: int
    failed: int
    retried: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    latency_p99_ms: int | None

    @property
    def failure_rate(self) -> float | None:
        return None if self.attempts == 0 else self.failures / self.attempts


@dataclass(frozen=True)
class MinuteStats:
    """What every endpoint (or one customer's) did in one minute."""

    minute: datetime  # start of the minute, UTC
    attempts: int
    failures: int
    delivered: int
    failed: int
    retried: int
