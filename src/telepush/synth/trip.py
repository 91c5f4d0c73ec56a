"""A synthetic ``trip`` document: every section of the provider's trip, derived from a drive."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from telepush.synth import places
from telepush.synth.route import Route, drive, haversine_m


def provider_date(epoch: float) -> str:
    """The provider's format ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``: ``2025-01-30T07:23:22.000+0000``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def nearest_city(lat: float, lon: float) -> places.City:
    return min(places.CITIES, key=lambda c: haversine_m(lat, lon, c.latitude, c.longitude))


def _address(rng: random.Random) -> str:
    return f"{rng.randint(1, 180)} {rng.choice(places.STREETS)}"


def _place(prefix: str, rng: random.Random, city: places.City) -> dict[str, Any]:
    return {
        f"{prefix}Address": _address(rng),
        f"{prefix}City": city.name,
        f"{prefix}PostalCode": city.postal_code,
        f"{prefix}State": city.state,
        f"{prefix}Country": city.country,
    }


def _r(value: float, digits: int = 2) -> float:
    return round(value, digits)


def _contexts(
    rng: random.Random, distance_km: float, duration_s: float, count: int
) -> list[dict[str, Any]]:
    """Per road context (1 traffic jam ... 5 expressway) figures; short trips see fewer."""
    shares = [rng.random() for _ in range(count)]
    total = sum(shares)
    return [
        {
            "contextId": context_id,
            "distance": _r(distance_km * share / total),
            "duration": _r(duration_s / 60 * share / total),
            "efficiencyScore": _r(rng.uniform(4, 10)),
            "scoreAccel": _r(rng.uniform(-5, 5)),
            "scoreMain": _r(rng.uniform(-5, 5)),
            "scoreDecel": _r(rng.uniform(-5, 5)),
        }
        for context_id, share in zip(range(1, count + 1), shares, strict=True)
    ]


def _events(rng: random.Random, route: Route, count: int, build: Any) -> list[dict[str, Any]]:
    picks = sorted(rng.randrange(len(route)) for _ in range(count))
    return [build(i) for i in picks]


def trip_document(
    rngs: tuple[random.Random, random.Random, random.Random],
    itin_id: str,
    user: tuple[str, str, str],
    start_epoch: float,
    points: int,
) -> dict[str, Any]:
    """One trip of ``points`` GPS fixes; ``rngs`` feed the metadata, the drive and events."""
    meta, path, ev = rngs
    user_id, firstname, lastname = user
    start = meta.choice(places.CITIES)
    route = drive(path, start, start_epoch, points)
    end_epoch = route.gps_date[-1]
    arrival = nearest_city(route.latitude[-1], route.longitude[-1])
    duration = end_epoch - start_epoch
    idle = float(route.idle_seconds())
    distance_km = route.distance_m() / 1000
    driving = max(1.0, duration - idle)
    fuel_l100 = meta.uniform(4.8, 8.5)
    fuel_l = distance_km * fuel_l100 / 100
    n_events = max(0, len(route) // 400 + ev.randint(-1, 1))
    start_hour = datetime.fromtimestamp(start_epoch, UTC)
    n_contexts = 1 if len(route) < 120 else min(5, 2 + len(route) // 600)
    at = route.gps_date

    def safety_event(i: int) -> dict[str, Any]:
        return {
            "time": _r(at[i] - start_epoch, 1),
            "latitude": route.latitude[i],
            "longitude": route.longitude[i],
            "velocity": route.velocity[i],
            "heading": route.heading[i],
            "elevation": route.elevation[i],
            "type": ev.choice((1, 2, 3)),
            "level": ev.choice((1, 2, 3)),
            "value": _r(ev.uniform(1.5, 6.0)),
        }

    def call_event(i: int) -> dict[str, Any]:
        length = ev.randint(20, 600)
        return {
            "start": _r(at[i] - start_epoch, 1),
            "end": _r(min(end_epoch, at[i] + length) - start_epoch, 1),
            "duration": length,
            "type": ev.choice(("INCOMING", "OUTGOING")),
            "audioSystem": ev.choice(("SPEAKER", "BLUETOOTH", "HANDSET")),
            "forbidden": ev.random() < 0.3,
        }

    def speeding_event(i: int) -> dict[str, Any]:
        return {
            "time": _r(at[i] - start_epoch, 1),
            "latitude": route.latitude[i],
            "longitude": route.longitude[i],
            "type": ev.choice((0, 1)),
            "speedLimit": ev.choice((30, 50, 70, 90, 110, 130)),
        }

    safety_events = _events(ev, route, n_events, safety_event)
    return {
        "itinId": itin_id,
        "userId": user_id,
        "firstname": firstname,
        "lastname": lastname,
        "endDate": provider_date(end_epoch),
        "itineraryData": {
            "startDate": provider_date(start_epoch),
            "endDate": provider_date(end_epoch),
            **_place("departure", meta, start),
            **_place("arrival", meta, arrival),
        },
        "itineraryStatistics": {
            "tripDuration": _r(duration),
            "drivingDuration": _r(driving),
            "idlingDuration": _r(idle),
            "drivingPercentage": _r(100 * driving / max(duration, 1.0)),
            "idlingPercentage": _r(100 * idle / max(duration, 1.0)),
            "distance": _r(distance_km, 3),
            "speedMean": _r(distance_km / (driving / 3600)),
            "subdispNb": max(1, len(route) // 120),
            "meteo": meta.choice((1, 2, 3, 4)),
            "day": 7 <= start_hour.hour < 20,
            "weekDay": start_hour.weekday() < 5,
            "transportationMode": 1,
        },
        "ecoDriving": {
            "score": _r(meta.uniform(5, 10)),
            "scoreAccel": _r(meta.uniform(-5, 5)),
            "scoreMain": _r(meta.uniform(-5, 5)),
            "scoreDecel": _r(meta.uniform(-5, 5)),
            "stdDevAccel": _r(meta.uniform(0, 2)),
            "stdDevMain": _r(meta.uniform(0, 2)),
            "stdDevDecel": _r(meta.uniform(0, 2)),
            "energyClass": meta.choice((1, 2, 3, 4)),
        },
        "fuelEstimation": {
            "co2Mass": _r(fuel_l * 2.31, 3),
            "co2Emission": _r(fuel_l100 * 23.1),
            "fuelVolume": _r(fuel_l, 3),
            "fuelConsumption": _r(fuel_l100),
            "idleFuelVolume": _r(idle * 0.00022, 4),
            "idleCo2Mass": _r(idle * 0.00051, 4),
        },
        "safety": {
            "nbAdh": sum(1 for e in safety_events if e["type"] == 1),
            "nbAccel": sum(1 for e in safety_events if e["type"] == 2),
            "nbDecel": sum(1 for e in safety_events if e["type"] == 3),
            "nbAdhCrit": 0,
            "nbAccelCrit": sum(1 for e in safety_events if e["level"] == 3),
            "nbDecelCrit": 0,
            "safetyScore": _r(meta.uniform(6, 10)),
        },
        "advancedEcoDriving": {
            "ecoDrivingContext": _contexts(meta, distance_km, duration, n_contexts)
        },
        "advancedFuelEstimation": {
            "fuelEstimationContext": [
                {
                    "contextId": context["contextId"],
                    "distance": context["distance"],
                    "fuelVolume": _r(context["distance"] * fuel_l100 / 100, 3),
                }
                for context in _contexts(meta, distance_km, duration, n_contexts)
            ]
        },
        "advancedSafety": {
            "safetyContext": [
                {
                    "contextId": context["contextId"],
                    "distance": context["distance"],
                    "safetyScore": context["efficiencyScore"],
                }
                for context in _contexts(meta, distance_km, duration, n_contexts)
            ]
        },
        "pollutants": {
            "co": _r(meta.uniform(100, 600)),
            "hc": _r(meta.uniform(10, 80)),
            "nox": _r(meta.uniform(20, 150)),
            "soot": _r(meta.uniform(0.1, 3), 3),
        },
        "tireWear": {"frontTireWear": _r(meta.uniform(0, 30)), "rearTireWear": _r(3.0)},
        "brakeWear": {"frontBrakePadWear": _r(meta.uniform(0, 40))},
        "driverDistraction": {"nbUnlock": ev.randint(0, 3), "score": _r(ev.uniform(6, 10))},
        "safetyEvents": safety_events,
        "callEvents": _events(ev, route, max(0, n_events // 3), call_event),
        "speedingEvents": _events(ev, route, max(0, n_events // 2), speeding_event),
        "speedingStatistics": {"distance": _r(distance_km, 3), "score": _r(ev.uniform(5, 10))},
        "route": route.table(),
    }
