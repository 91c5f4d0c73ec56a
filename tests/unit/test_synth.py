"""The synthetic data generator: valid, reproducible, realistic, sized on demand."""

from __future__ import annotations

import json
import re

import pytest

from telepush.services import CATALOGUE, get_service
from telepush.synth import SERVICES, Synth, provider_date, to_bytes
from telepush.synth.route import haversine_m

PROVIDER_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
TRIP_SECTIONS = (
    "itineraryData",
    "itineraryStatistics",
    "ecoDriving",
    "fuelEstimation",
    "safety",
    "advancedEcoDriving",
    "advancedFuelEstimation",
    "advancedSafety",
    "pollutants",
    "safetyEvents",
    "callEvents",
    "speedingEvents",
    "route",
)
ROUTE_TABLES = (
    "gpsDate",
    "latitude",
    "longitude",
    "gpsVelocity",
    "gpsAccuracy",
    "gpsElevation",
    "gpsHeading",
)


def test_services_match_the_catalogue() -> None:
    """The generator knows exactly the catalogue's services."""
    assert set(SERVICES) == set(CATALOGUE)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**40])
@pytest.mark.parametrize("service", SERVICES)
def test_every_document_validates_against_its_model(seed: int, service: str) -> None:
    """Each generated document passes its service's validation."""
    doc = Synth(seed).document(service)
    get_service(service).validate(to_bytes(doc))


def test_same_seed_gives_identical_output() -> None:
    """Two generators with one seed produce the same bytes, call after call."""
    first, second = Synth(123), Synth(123)
    for service in SERVICES * 3:
        assert to_bytes(first.document(service)) == to_bytes(second.document(service))
    assert to_bytes(first.trip_of_size(80_000)) == to_bytes(second.trip_of_size(80_000))


def test_other_seeds_and_later_calls_differ() -> None:
    """A different seed, or the next call, gives a different trip."""
    synth = Synth(1)
    assert synth.trip() != synth.trip()
    assert Synth(1).trip() != Synth(2).trip()


def test_trip_has_every_section_and_aligned_route_tables() -> None:
    """A trip carries all the provider's sections, and the route tables have one value per fix."""
    trip = Synth(5).trip(itin_id="abc", points=900, user_id="u-1")
    assert trip["itinId"] == "abc"
    assert trip["userId"] == "u-1"
    for section in TRIP_SECTIONS:
        assert section in trip, section
    assert {len(trip["route"][name]) for name in ROUTE_TABLES} == {900}
    data = trip["itineraryData"]
    assert data["departureCity"] and data["arrivalCity"] and data["departureAddress"]
    assert PROVIDER_DATE.match(data["startDate"]) and PROVIDER_DATE.match(data["endDate"])


def test_route_is_a_plausible_drive() -> None:
    """Fixes are 1 s apart, speeds are road speeds, steps match speeds, stats match the path."""
    trip = Synth(6).trip(points=1800)
    route = trip["route"]
    dates = route["gpsDate"]
    assert all(b - a == pytest.approx(1.0) for a, b in zip(dates, dates[1:], strict=False))
    assert 0 <= min(route["gpsVelocity"]) and max(route["gpsVelocity"]) < 160
    assert all(0 <= h < 360 for h in route["gpsHeading"])
    steps = [
        haversine_m(
            route["latitude"][i],
            route["longitude"][i],
            route["latitude"][i + 1],
            route["longitude"][i + 1],
        )
        for i in range(len(dates) - 1)
    ]
    assert max(steps) < 160 / 3.6 + 1  # no teleporting
    distance_km = sum(steps) / 1000
    stats = trip["itineraryStatistics"]
    assert stats["distance"] == pytest.approx(distance_km, rel=0.01)
    assert stats["tripDuration"] == pytest.approx(1799)
    assert stats["drivingDuration"] + stats["idlingDuration"] == pytest.approx(1799)
    assert 5 < stats["speedMean"] < 140


@pytest.mark.parametrize("target", [2_048, 50_000, 300_000, 2_000_000])
def test_trip_of_size_hits_the_target(target: int) -> None:
    """trip_of_size gives compact JSON within 5% of the requested size."""
    size = len(to_bytes(Synth(7).trip_of_size(target)))
    assert abs(size - target) <= target * 0.05, size


def test_smallest_trip_is_about_two_kilobytes() -> None:
    """A trip with two fixes is about 2 KB; asking for less gives that smallest trip."""
    synth = Synth(8)
    assert 1_500 < len(to_bytes(synth.trip(points=2))) < 2_300
    assert len(to_bytes(synth.trip_of_size(100))) < 2_300


def test_deleted_trip_uses_the_provider_format() -> None:
    """A deletion has the provider's shape and date format."""
    doc = Synth(9).deleted_trip("itin-1")
    assert set(doc) == {"itinId", "event", "date"}
    assert doc["event"] == "TRIP_DELETION"
    assert PROVIDER_DATE.match(doc["date"])
    assert provider_date(1738221802.0) == "2025-01-30T07:23:22.000+0000"


def test_crash_report_links_its_crash_and_trip() -> None:
    """A crash report carries its ids in info and all its sections."""
    doc = Synth(10).crash_report(report_id="R", crash_id="C", itin_id="T")
    assert (doc["info"]["reportId"], doc["info"]["crashId"], doc["info"]["itinId"]) == (
        "R",
        "C",
        "T",
    )
    for section in (
        "tripConditions",
        "driverFatigue",
        "aggressiveDriving",
        "phoneUsage",
        "riskFactors",
    ):
        assert isinstance(doc[section], dict)


def test_crash_has_windows_around_the_impact() -> None:
    """A crash has its key, status and GPS/IMU windows sized by its parameters."""
    doc = Synth(11).crash(crash_id="C1", status="UNCONFIRMED")
    params = doc["parameters"]
    assert doc["crashId"] == "C1" and doc["crashStatus"] == "UNCONFIRMED"
    assert len(doc["gps"]["time"]) == params["gpsWindowNeg"] + params["gpsWindowPos"] + 1
    imu_points = (params["imuWindowNeg"] + params["imuWindowPos"]) * params["imuFrequency"] + 1
    assert len(doc["imu"]["accelerationX"]) == imu_points


def test_diagnosis_can_be_an_empty_heartbeat() -> None:
    """empty=True gives a diagnosis with every event list empty; otherwise events are present."""
    synth = Synth(12)
    empty = synth.diagnosis("u", empty=True)
    full = synth.diagnosis("u")
    assert empty["userId"] == "u"
    assert [v for v in empty.values() if isinstance(v, list)] == [[], [], []]
    assert any(isinstance(v, list) and v for v in full.values())


def test_to_bytes_is_compact_utf8_json() -> None:
    """to_bytes writes compact UTF-8 JSON that reads back to the same document."""
    doc = {"a": [1, 2], "city": "Munchen", "name": "Lea"}
    raw = to_bytes(doc)
    assert raw == b'{"a":[1,2],"city":"Munchen","name":"Lea"}'
    assert json.loads(raw) == doc
    assert Synth.to_bytes(doc) == raw


def test_unknown_service_is_refused() -> None:
    """Asking for a document of an unknown service raises ValueError."""
    with pytest.raises(ValueError, match="unknown service"):
        Synth(0).document("trips")
