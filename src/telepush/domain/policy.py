"""Retry policies: when to try a failed delivery again, and when to give up.

Shape (the specification's, durations as strings ``"10s"``, ``"5m"``, ``"2h"``, ``"1d"``)::

    {"delays": ["1m", "5m"], "thenEvery": "24h", "maxAttempts": null, "maxAge": "30d",
     "jitter": 0.1}

``delays[i]`` is the wait after failed attempt ``i + 1``; ``thenEvery`` the wait once
``delays`` is used up (``None``: give up then).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from telepush.services import get_service

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

# Retry-After is honoured, but never beyond this bound.
MAX_RETRY_AFTER_S = 86400.0


def parse_duration_s(text: str | int | float) -> float:
    """``"90s"`` -> 90.0; bare numbers are seconds. Raises ``ValueError`` with the expected form."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '10s', '5m', '2h', '1d', got {text!r}")
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration such as '10s', '5m', '2h', '1d', got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_S[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class RetryPolicy(BaseModel):
    """A validated retry policy; durations held in seconds."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    delays_s: tuple[float, ...] = Field(alias="delays")
    then_every_s: float | None = Field(default=None, alias="thenEvery")
    max_attempts: int | None = Field(default=None, alias="maxAttempts", ge=1)
    max_age_s: float | None = Field(default=None, alias="maxAge")
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)

    @field_validator("delays_s", mode="before")
    @classmethod
    def _delays(cls, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError('expected a list of durations such as ["1m", "5m"]')
        return tuple(parse_duration_s(v) for v in value)

    @field_validator("then_every_s", "max_age_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        if value is None:
            return None
        seconds = parse_duration_s(value)
        if seconds <= 0:
            raise ValueError("must be longer than zero")
        return seconds

    @classmethod
    def from_shape(cls, shape: Mapping[str, Any], base: RetryPolicy | None = None) -> RetryPolicy:
        """Build from the specification's shape; keys absent from ``shape`` come from ``base``."""
        merged: dict[str, Any] = base.to_shape() if base is not None else {}
        merged.update(shape)
        return cls.model_validate(merged)

    def to_shape(self) -> dict[str, Any]:
        return {
            "delays": [format_duration(d) for d in self.delays_s],
            "thenEvery": None if self.then_every_s is None else format_duration(self.then_every_s),
            "maxAttempts": self.max_attempts,
            "maxAge": None if self.max_age_s is None else format_duration(self.max_age_s),
            "jitter": self.jitter,
        }

    def base_delay_s(self, attempt_number: int) -> float | None:
        """The wait after failed attempt ``attempt_number`` (1-based), before jitter."""
        if self.max_attempts is not None and attempt_number >= self.max_attempts:
            return None
        if attempt_number <= len(self.delays_s):
            return self.delays_s[attempt_number - 1]
        return self.then_every_s

    def next_attempt_at(
        self,
        *,
        attempt_number: int,
        created_at: datetime,
        failed_at: datetime,
        retry_after_s: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after failed attempt ``attempt_number``; ``None`` means give up.

        Jitter spreads the wait by ±``jitter``. A ``Retry-After`` from the receiver is
        honoured when it asks for a longer wait, up to ``MAX_RETRY_AFTER_S``.
        """
        delay_s = self.base_delay_s(attempt_number)
        if delay_s is None:
            return None
        if self.jitter:
            delay_s *= 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        if retry_after_s is not None:
            delay_s = max(delay_s, min(retry_after_s, MAX_RETRY_AFTER_S))
        at = failed_at + timedelta(seconds=delay_s)
        if self.max_age_s is not None and at > created_at + timedelta(seconds=self.max_age_s):
            return None
        return at


@cache
def default_policy(service: str) -> RetryPolicy:
    """The catalogue's default policy for ``service``."""
    return RetryPolicy.from_shape(get_service(service).default_retry)
