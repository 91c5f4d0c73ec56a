"""A plausible drive: GPS fixes at 1 Hz along a smoothly turning path with realistic speeds,
stops, accuracy and elevation, plus the statistics a trip analysis derives from it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from telepush.synth.places import City

EARTH_M = 6_371_000.0
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Route:
    """Parallel tables, one value per GPS fix (the provider's raw ``route`` shape)."""

    gps_date: list[float]
    latitude: list[float]
    longitude: list[float]
    velocity: list[float]  # km/h
    accuracy: list[float]  # m
    elevation: list[float]  # m
    heading: list[float]  # degrees, 0 = north

    def __len__(self) -> int:
        return len(self.gps_date)

    def table(self) -> dict[str, list[float]]:
        return {
            "gpsDate": self.gps_date,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "gpsVelocity": self.velocity,
            "gpsAccuracy": self.accuracy,
            "gpsElevation": self.elevation,
            "gpsHeading": self.heading,
        }

    def distance_m(self) -> float:
        total = 0.0
        for i in range(1, len(self)):
            total += haversine_m(
                self.latitude[i - 1], self.longitude[i - 1], self.latitude[i], self.longitude[i]
            )
        return total

    def idle_seconds(self) -> int:
        return sum(1 for v in self.velocity if v < 2.0)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))


def drive(rng: random.Random, start: City, start_epoch: float, points: int) -> Route:
    """``points`` fixes (at least 2) from near ``start``, one per second."""
    points = max(2, points)
    lat = start.latitude + rng.uniform(-0.02, 0.02)
    lon = start.longitude + rng.uniform(-0.02, 0.02)
    elevation = start.elevation + rng.uniform(-5, 5)
    heading = rng.uniform(0, 360)
    speed = 0.0  # km/h
    target = rng.uniform(30, 50)
    stop_left = 0
    route = Route([], [], [], [], [], [], [])
    for i in range(points):
        if stop_left > 0:
            stop_left -= 1
            target = 0.0
        elif rng.random() < 0.004:  # a red light or a stop sign
            stop_left = rng.randint(5, 45)
        elif rng.random() < 0.01:  # the road changes: urban, suburban, expressway
            target = rng.choice((30.0, 50.0, 70.0, 90.0, 110.0, 130.0)) + rng.uniform(-5, 5)
        elif target == 0.0:
            target = rng.uniform(30, 50)
        step = max(-9.0, min(6.0, (target - speed) * 0.15 + rng.gauss(0, 0.8)))
        speed = max(0.0, speed + step)
        if speed > 3 and rng.random() < 0.006:
            heading += rng.choice((-90.0, 90.0)) + rng.gauss(0, 10)
        else:
            heading += rng.gauss(0, 3.0 if speed > 60 else 6.0)
        heading %= 360.0
        metres = speed / 3.6
        lat += metres * math.cos(math.radians(heading)) / _M_PER_DEG
        lon += metres * math.sin(math.radians(heading)) / (_M_PER_DEG * math.cos(math.radians(lat)))
        elevation = max(0.0, elevation + rng.gauss(0, 0.3) + metres * rng.uniform(-0.01, 0.01))
        route.gps_date.append(round(start_epoch + i, 3))
        route.latitude.append(round(lat, 6))
        route.longitude.append(round(lon, 6))
        route.velocity.append(round(speed, 1))
        route.accuracy.append(float(rng.choice((3, 4, 5, 5, 6, 8, 10, 12, 16))))
        route.elevation.append(round(elevation, 1))
        route.heading.append(round(heading, 1))
    return route
