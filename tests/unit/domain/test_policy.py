"""Retry schedules of the catalogue's default policies and of overrides."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from telepush.domain.policy import RetryPolicy, default_policy, parse_duration_s

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def schedule(policy: RetryPolicy, attempts: int) -> list[float | None]:
    """Waits after each failed attempt, failing each at the moment it was due."""
    waits: list[float | None] = []
    now = T0
    for n in range(1, attempts + 1):
        at = policy.next_attempt_at(attempt_number=n, created_at=T0, failed_at=now)
        waits.append(None if at is None else (at - now).total_seconds())
        if at is None:
            break
        now = at
    return waits


def no_jitter(service: str) -> RetryPolicy:
    return RetryPolicy.from_shape({"jitter": 0}, default_policy(service))


def test_trip_schedule_matches_spec() -> None:
    """trip: 1m, 5m, 30m, 2h, 6h, then every 24h, gives up after 30 days."""
    waits = schedule(no_jitter("trip"), 40)
    assert waits[:7] == [60, 300, 1800, 7200, 21600, 86400, 86400]
    assert waits[-1] is None
    total_days = sum(w for w in waits if w) / 86400
    assert 29 < total_days <= 30


def test_crash_schedule_is_time_critical() -> None:
    """crash: 10s, 30s, 1m, 2m, then 5m six times (about half an hour), then daily."""
    waits = schedule(no_jitter("crash"), 12)
    assert waits[:11] == [10, 30, 60, 120, 300, 300, 300, 300, 300, 300, 86400]
    assert 1800 <= sum(w for w in waits[:10] if w) <= 2100  # ~34 min


def test_diagnosis_gives_up_after_seven_days() -> None:
    """diagnosis: 5m, 30m, 2h, 6h, then daily, for at most 7 days."""
    waits = schedule(no_jitter("diagnosis"), 20)
    assert waits[:5] == [300, 1800, 7200, 21600, 86400]
    assert waits[-1] is None
    assert sum(w for w in waits if w) <= 7 * 86400


def test_then_every_null_gives_up_when_delays_run_out() -> None:
    """thenEvery null: no attempt after the listed delays."""
    policy = RetryPolicy.from_shape({"delays": ["1s", "2s"], "thenEvery": None, "jitter": 0})
    assert schedule(policy, 5) == [1, 2, None]


def test_max_attempts_caps_the_count() -> None:
    """maxAttempts 3: the third failure is final."""
    policy = RetryPolicy.from_shape(
        {"delays": ["1s"], "thenEvery": "1s", "maxAttempts": 3, "jitter": 0}
    )
    assert schedule(policy, 10) == [1, 1, None]


def test_jitter_stays_within_bounds() -> None:
    """jitter 0.1 spreads a 100 s wait within 90..110 s, and does spread it."""
    policy = RetryPolicy.from_shape({"delays": ["100s"], "jitter": 0.1})
    rng = random.Random(7)
    waits = {
        (
            policy.next_attempt_at(attempt_number=1, created_at=T0, failed_at=T0, rng=rng) - T0
        ).total_seconds()
        for _ in range(200)
    }
    assert min(waits) >= 90 and max(waits) <= 110
    assert len(waits) > 100


def test_retry_after_is_honoured_within_bounds() -> None:
    """A longer Retry-After is obeyed; a shorter one never shortens the policy; huge ones cap."""
    policy = RetryPolicy.from_shape({"delays": ["1m"], "jitter": 0, "maxAge": "30d"})

    def wait(retry_after: float) -> float:
        at = policy.next_attempt_at(
            attempt_number=1, created_at=T0, failed_at=T0, retry_after_s=retry_after
        )
        assert at is not None
        return (at - T0).total_seconds()

    assert wait(600) == 600
    assert wait(5) == 60
    assert wait(10**9) == 86400


def test_max_age_gives_up() -> None:
    """No attempt is scheduled past created_at + maxAge."""
    policy = RetryPolicy.from_shape(
        {"delays": ["1h"], "thenEvery": "1h", "maxAge": "2h", "jitter": 0}
    )
    late = T0 + timedelta(hours=1, minutes=30)
    assert policy.next_attempt_at(attempt_number=2, created_at=T0, failed_at=late) is None


def test_override_merges_with_default() -> None:
    """A partial override keeps the default's other fields."""
    policy = RetryPolicy.from_shape({"maxAttempts": 4}, default_policy("trip"))
    assert policy.max_attempts == 4
    assert policy.delays_s[0] == 60


@pytest.mark.parametrize(
    "text,seconds", [("10s", 10), ("5m", 300), ("2h", 7200), ("1d", 86400), ("250ms", 0.25), (3, 3)]
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    """Durations are strings with a unit, or plain seconds."""
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("bad", ["", "10", "5 minutes", "-1s", "1y", True])
def test_parse_duration_refuses_bad_input(bad: object) -> None:
    """Malformed durations are refused with the expected form in the message."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(bad)  # type: ignore[arg-type]
