"""Endpoint health: latency buckets, percentiles read off them, and the failure rate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telepush.domain.health import (
    LATENCY_BOUNDS_MS,
    N_LATENCY_BUCKETS,
    EndpointHealth,
    PauseReason,
    latency_bucket,
    percentile,
)


@pytest.mark.parametrize(
    "duration_ms,bucket",
    [
        (0, 0),
        (5, 0),  # a bound belongs to its own bucket
        (6, 1),
        (10, 1),
        (11, 2),
        (999, 7),
        (1000, 7),
        (1001, 8),
        (30000, len(LATENCY_BOUNDS_MS) - 1),
        (30001, len(LATENCY_BOUNDS_MS)),  # the open bucket
        (10**9, len(LATENCY_BOUNDS_MS)),
    ],
)
def test_latency_bucket_is_the_first_bound_at_or_above(duration_ms: int, bucket: int) -> None:
    assert latency_bucket(duration_ms) == bucket
    assert 0 <= bucket < N_LATENCY_BUCKETS


def _counts(**by_bound: int) -> list[int]:
    """Counts per bucket, given as ``ms<bound>=count`` (``open=count`` for the last one)."""
    counts = [0] * N_LATENCY_BUCKETS
    for name, count in by_bound.items():
        index = len(LATENCY_BOUNDS_MS) if name == "open" else LATENCY_BOUNDS_MS.index(int(name[2:]))
        counts[index] = count
    return counts


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([0] * N_LATENCY_BUCKETS, 0.5) is None
    assert percentile([], 0.99) is None


def test_percentile_is_the_upper_bound_of_the_bucket_holding_the_rank() -> None:
    counts = _counts(ms10=50, ms100=45, ms1000=4, ms5000=1)  # 100 attempts
    assert percentile(counts, 0.5) == 10
    assert percentile(counts, 0.51) == 100
    assert percentile(counts, 0.95) == 100
    assert percentile(counts, 0.96) == 1000
    assert percentile(counts, 0.99) == 1000
    assert percentile(counts, 1.0) == 5000


def test_percentile_of_one_attempt_is_its_bucket_for_every_quantile() -> None:
    counts = _counts(ms250=1)
    assert {percentile(counts, q) for q in (0.01, 0.5, 0.95, 0.99, 1.0)} == {250}


def test_open_bucket_reports_the_largest_bound() -> None:
    counts = _counts(ms5=1, open=9)
    assert percentile(counts, 0.5) == LATENCY_BOUNDS_MS[-1]
    assert percentile(counts, 0.1) == 5


@pytest.mark.parametrize("q", [0, -0.5, 1.01])
def test_quantile_outside_zero_one_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        percentile(_counts(ms5=1), q)


def _health(attempts: int, failures: int) -> EndpointHealth:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return EndpointHealth(
        customer_id="acme",
        service="trip",
        enabled=True,
        paused=PauseReason.BREAKER,
        paused_at=at,
        probe_at=at,
        consecutive_failures=failures,
        last_success_at=None,
        last_failure_at=at,
        pending=0,
        attempts=attempts,
        failures=failures,
        delivered=attempts - failures,
        failed=0,
        retried=failures,
        latency_p50_ms=None,
        latency_p95_ms=None,
        latency_p99_ms=None,
    )


def test_failure_rate() -> None:
    assert _health(0, 0).failure_rate is None
    assert _health(4, 1).failure_rate == 0.25
    assert _health(3, 3).failure_rate == 1.0


def test_pause_reasons_are_the_stored_words() -> None:
    assert [str(r) for r in PauseReason] == ["manual", "breaker"]
