"""Arithmetic on what the receiver recorded: sustained rates and latency percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence


def sustained_rate(times: Sequence[float], *, low: float = 0.05, high: float = 0.95) -> float:
    """Arrivals per second between the ``low`` and ``high`` quantiles of arrival order.

    Leaves out the start (connections, token, first claim) and the tail (the last few
    stragglers), so what remains is the steady rate. Falls back to the whole span for tiny
    samples.
    """
    ordered = sorted(times)
    n = len(ordered)
    if n < 2:
        return 0.0
    first, last = int(n * low), max(int(n * high) - 1, 0)
    if last - first < 10:
        first, last = 0, n - 1
    span = ordered[last] - ordered[first]
    return (last - first) / span if span > 0 else 0.0


def span_rate(times: Sequence[float]) -> float:
    """Arrivals per second from the first to the last."""
    if len(times) < 2:
        return 0.0
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]
