"""Synthetic ``crash``, ``crash-report`` and ``diagnosis`` documents."""

from __future__ import annotations

import math
import random
from typing import Any

from telepush.synth import places
from telepush.synth.trip import provider_date

_GPS_NEG, _GPS_POS = 60, 30  # seconds of GPS before / after the impact
_IMU_NEG, _IMU_POS, _IMU_HZ = 20, 10, 10  # seconds of IMU before / after, sampling rate


def _r(value: float, digits: int = 3) -> float:
    return round(value, digits)


def crash_document(
    rng: random.Random, crash_id: str, user_id: str, epoch: float, status: str
) -> dict[str, Any]:
    city = rng.choice(places.CITIES)
    lat = city.latitude + rng.uniform(-0.05, 0.05)
    lon = city.longitude + rng.uniform(-0.05, 0.05)
    speed = rng.uniform(30, 90)  # km/h before the impact
    heading = math.radians(rng.uniform(0, 360))
    gps: dict[str, list[float]] = {k: [] for k in ("time", "latitude", "longitude", "velocity")}
    gps["accuracy"] = []
    for t in range(-_GPS_NEG, _GPS_POS + 1):
        v = speed if t < 0 else max(0.0, speed * (1 - t / 2))
        travelled = (speed / 3.6) * t
        gps["time"].append(_r(epoch + t, 1))
        gps["latitude"].append(_r(lat + travelled * math.cos(heading) / 111_320, 6))
        gps["longitude"].append(
            _r(lon + travelled * math.sin(heading) / (111_320 * math.cos(math.radians(lat))), 6)
        )
        gps["velocity"].append(_r(v, 1))
        gps["accuracy"].append(float(rng.choice((3, 4, 5, 8))))
    axes = ("accelerationX", "accelerationY", "accelerationZ", "gyroX", "gyroY", "gyroZ")
    imu: dict[str, list[float]] = {"time": [], **{axis: [] for axis in axes}}
    for n in range(-_IMU_NEG * _IMU_HZ, _IMU_POS * _IMU_HZ + 1):
        at = n / _IMU_HZ
        shock = 35 * math.exp(-(at**2) * 40) if abs(at) < 1 else 0.0
        imu["time"].append(_r(epoch + at, 2))
        imu["accelerationX"].append(_r(rng.gauss(0, 0.3) - shock))
        imu["accelerationY"].append(_r(rng.gauss(0, 0.3) + shock * 0.3))
        imu["accelerationZ"].append(_r(9.81 + rng.gauss(0, 0.2)))
        for axis in ("gyroX", "gyroY", "gyroZ"):
            imu[axis].append(_r(rng.gauss(0, 0.05) + shock * 0.02))
    return {
        "crashId": crash_id,
        "customerId": f"customer-{rng.randint(1, 9)}",
        "driverId": f"driver-{user_id[-6:]}",
        "userId": user_id,
        "parameters": {
            "localTripId": f"{rng.getrandbits(48):012x}",
            "date": provider_date(epoch),
            "tripStartDate": provider_date(epoch - rng.randint(120, 3600)),
            "gpsWindowPos": _GPS_POS,
            "gpsWindowNeg": _GPS_NEG,
            "imuWindowPos": _IMU_POS,
            "imuWindowNeg": _IMU_NEG,
            "imuFrequency": _IMU_HZ,
        },
        "probability": _r(rng.uniform(0.8, 1.0)),
        "latitude": _r(lat, 6),
        "longitude": _r(lon, 6),
        "velocity": _r(speed, 1),
        "crashStatus": status,
        "address": f"{rng.randint(1, 120)} {rng.choice(places.STREETS)}, {city.name}",
        "gps": gps,
        "imu": imu,
    }


def crash_report_document(
    rng: random.Random, report_id: str, crash_id: str, itin_id: str, user_id: str, epoch: float
) -> dict[str, Any]:
    city = rng.choice(places.CITIES)
    driving_min = rng.randint(5, 240)
    return {
        "info": {
            "reportId": report_id,
            "crashId": crash_id,
            "itinId": itin_id,
            "userId": user_id,
            "crashDate": provider_date(epoch),
            "reportDate": provider_date(epoch + rng.randint(600, 7200)),
            "latitude": _r(city.latitude + rng.uniform(-0.05, 0.05), 6),
            "longitude": _r(city.longitude + rng.uniform(-0.05, 0.05), 6),
            "city": city.name,
            "severity": rng.choice(("LOW", "MEDIUM", "HIGH")),
        },
        "tripConditions": {
            "weather": rng.choice(("SUNNY", "CLOUDY", "RAIN", "FOG", "SNOW")),
            "dayPeriod": rng.choice(("DAY", "NIGHT", "DAWN", "DUSK")),
            "roadType": rng.choice(("URBAN", "SUBURBAN", "EXPRESSWAY")),
            "speedLimit": rng.choice((30, 50, 70, 90, 110, 130)),
            "trafficLevel": rng.choice(("LOW", "MEDIUM", "HIGH")),
        },
        "driverFatigue": {
            "drivingDurationBeforeCrash": driving_min,
            "tripsLast24h": rng.randint(0, 6),
            "drivingDurationLast24h": driving_min + rng.randint(0, 300),
            "fatigueLevel": "HIGH" if driving_min > 180 else rng.choice(("LOW", "MEDIUM")),
        },
        "aggressiveDriving": {
            "nbHarshAcceleration": rng.randint(0, 5),
            "nbHarshBraking": rng.randint(0, 5),
            "safetyScore": _r(rng.uniform(3, 10), 2),
            "speedingDistancePercentage": _r(rng.uniform(0, 25), 1),
        },
        "phoneUsage": {
            "phoneUsedBeforeCrash": rng.random() < 0.3,
            "callInProgress": rng.random() < 0.1,
            "unlockDurationLast5Min": rng.randint(0, 120),
            "nbUnlockLast5Min": rng.randint(0, 4),
        },
        "riskFactors": {
            "score": _r(rng.uniform(0, 100), 1),
            "factors": rng.sample(
                ["SPEEDING", "FATIGUE", "PHONE_USE", "WEATHER", "NIGHT", "HARSH_BRAKING"],
                k=rng.randint(0, 3),
            ),
        },
    }


def diagnosis_document(rng: random.Random, user_id: str, date: str, empty: bool) -> dict[str, Any]:
    model, os_type, os_version = rng.choice(places.PHONES)
    doc: dict[str, Any] = {
        "userId": user_id,
        "date": date,
        "smartphoneData": {
            "phoneModel": model,
            "appBuildNumber": str(rng.randint(100, 999)),
            "appVersion": rng.choice(places.APP_VERSIONS),
            "osType": os_type,
            "osVersion": os_version,
            "sdkVersion": rng.choice(places.SDK_VERSIONS),
        },
        "permissions": [],
        "sensors": [],
        "events": [],
    }
    if empty:
        return doc
    for name in rng.sample(["LOCATION", "ACTIVITY", "NOTIFICATION", "BATTERY"], k=2):
        doc["permissions"].append(
            {"type": name, "status": rng.choice(("GRANTED", "DENIED", "LIMITED")), "date": date}
        )
    for name in rng.sample(["GPS", "BLUETOOTH", "ACCELEROMETER", "GYROSCOPE"], k=2):
        doc["sensors"].append({"type": name, "status": rng.choice(("ON", "OFF")), "date": date})
    doc["events"].append(
        {"type": rng.choice(("APP_UPDATED", "LOGIN", "AUTOSTART_OFF")), "date": date}
    )
    return doc
