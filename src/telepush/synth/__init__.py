"""Seeded, reproducible synthetic telematics documents for tests, demos and benchmarks.

    synth = Synth(seed=7)
    trip = synth.trip(points=600)                  # one trip with 600 GPS fixes (10 min)
    big = synth.trip_of_size(500_000)              # about 500 KB of JSON
    gone = synth.deleted_trip(trip["itinId"])      # provider format date
    body = to_bytes(trip)                          # compact JSON bytes, as pushed

Every document validates against its service model (``telepush.services``). The same seed
gives the same documents in the same order: each call draws its own sub-seed from the
generator's stream, and dates come from a simulated clock, never from the real one.
"""

from __future__ import annotations

import json
import random
from typing import Any

from telepush.synth import places
from telepush.synth.others import crash_document, crash_report_document, diagnosis_document
from telepush.synth.trip import provider_date, trip_document

__all__ = ["SERVICES", "Synth", "provider_date", "to_bytes"]

SERVICES = ("trip", "deleted-trip", "crash", "crash-report", "diagnosis")
_EPOCH_2025 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
_SMALLEST = 2  # GPS fixes in the smallest trip


def to_bytes(doc: dict[str, Any]) -> bytes:
    """Compact JSON (UTF-8), as telepush pushes it."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Synth:
    """A deterministic source of trips, deletions, crashes, crash reports and diagnoses."""

    def __init__(self, seed: int = 0, users: int = 20) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._clock = _EPOCH_2025 + self._rng.randrange(0, 300 * 86_400)
        self.users: list[tuple[str, str, str]] = [
            (
                f"user-{self._rng.getrandbits(40):010x}",
                self._rng.choice(places.FIRST_NAMES),
                self._rng.choice(places.LAST_NAMES),
            )
            for _ in range(max(1, users))
        ]

    # ---- plumbing -----------------------------------------------------------------------

    def _child(self) -> random.Random:
        return random.Random(self._rng.getrandbits(64))

    def _tick(self, rng: random.Random, low: float = 60, high: float = 3600) -> float:
        self._clock += rng.uniform(low, high)
        return round(self._clock, 3)

    def _user(self, rng: random.Random, user_id: str | None) -> tuple[str, str, str]:
        if user_id is None:
            return rng.choice(self.users)
        known = next((u for u in self.users if u[0] == user_id), None)
        return known or (user_id, rng.choice(places.FIRST_NAMES), rng.choice(places.LAST_NAMES))

    @staticmethod
    def _id(rng: random.Random, bits: int = 96) -> str:
        return f"{rng.getrandbits(bits):0{bits // 4}x}"

    # ---- documents ----------------------------------------------------------------------

    def trip(
        self, itin_id: str | None = None, points: int = 600, user_id: str | None = None
    ) -> dict[str, Any]:
        """A trip with ``points`` GPS fixes (1 Hz) and every analysed section."""
        return self._trip_with(self._child(), itin_id, points, user_id)

    def _trip_with(
        self, rng: random.Random, itin_id: str | None, points: int, user_id: str | None
    ) -> dict[str, Any]:
        seeds = [rng.getrandbits(64) for _ in range(4)]
        user = self._user(random.Random(seeds[3]), user_id)
        itin = itin_id or self._id(rng)
        start = _EPOCH_2025 + rng.randrange(0, 300 * 86_400)
        rngs = (random.Random(seeds[0]), random.Random(seeds[1]), random.Random(seeds[2]))
        return trip_document(rngs, itin, user, start, points)

    def trip_of_size(
        self, target_bytes: int, itin_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        """A trip whose compact JSON is about ``target_bytes`` long (within a few percent).

        The smallest trip (2 GPS fixes) is about 2 KB; realistic ones are 50 KB to 2 MB.
        """
        seed = self._rng.getrandbits(64)

        def build(points: int) -> tuple[dict[str, Any], int]:
            doc = self._trip_with(random.Random(seed), itin_id, points, user_id)
            return doc, len(to_bytes(doc))

        small, small_size = build(_SMALLEST)
        if target_bytes <= small_size:
            return small
        probe = 1000
        _, probe_size = build(probe)
        per_point = max(1.0, (probe_size - small_size) / (probe - _SMALLEST))
        points = _SMALLEST + round((target_bytes - small_size) / per_point)
        best, best_size = build(points)
        for _ in range(3):
            if abs(best_size - target_bytes) <= max(200, target_bytes * 0.01):
                break
            points = max(_SMALLEST, points + round((target_bytes - best_size) / per_point))
            best, best_size = build(points)
        return best

    def deleted_trip(self, itin_id: str, date: str | None = None) -> dict[str, Any]:
        """The provider's deletion message, e.g. ``{"itinId", "event": "TRIP_DELETION",
        "date": "2025-01-30T07:23:22.000+0000"}``."""
        rng = self._child()
        return {
            "itinId": itin_id,
            "event": "TRIP_DELETION",
            "date": date or provider_date(self._tick(rng)),
        }

    def crash(
        self,
        crash_id: str | None = None,
        user_id: str | None = None,
        status: str = "CONFIRMED",
    ) -> dict[str, Any]:
        """A collision with its GPS (1 Hz) and IMU (10 Hz) windows around the impact."""
        rng = self._child()
        user = self._user(rng, user_id)
        return crash_document(rng, crash_id or self._id(rng), user[0], self._tick(rng), status)

    def crash_report(
        self,
        report_id: str | None = None,
        crash_id: str | None = None,
        itin_id: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """A full accident report; ``info.reportId`` is its key, ``info.itinId`` its trip."""
        rng = self._child()
        user = self._user(rng, user_id)
        return crash_report_document(
            rng,
            report_id or self._id(rng),
            crash_id or self._id(rng),
            itin_id or self._id(rng),
            user[0],
            self._tick(rng),
        )

    def diagnosis(
        self, user_id: str | None = None, empty: bool = False, date: str | None = None
    ) -> dict[str, Any]:
        """Phone status of ``user_id``; ``empty=True`` gives the "still alive" heartbeat."""
        rng = self._child()
        user = self._user(rng, user_id)
        when = date or provider_date(self._tick(rng))
        return diagnosis_document(rng, user[0], when, empty)

    def document(self, service: str, **kwargs: Any) -> dict[str, Any]:
        """A document of ``service`` (a deletion needs ``itin_id``; made up if absent)."""
        if service == "trip":
            return self.trip(**kwargs)
        if service == "deleted-trip":
            itin_id = kwargs.pop("itin_id", None) or self._id(self._child())
            return self.deleted_trip(itin_id, **kwargs)
        if service == "crash":
            return self.crash(**kwargs)
        if service == "crash-report":
            return self.crash_report(**kwargs)
        if service == "diagnosis":
            return self.diagnosis(**kwargs)
        raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")

    to_bytes = staticmethod(to_bytes)
