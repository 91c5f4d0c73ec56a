"""Payload validation and natural keys of the five push services."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from telepush.errors import InvalidPayload, UnknownService
from telepush.services import CATALOGUE, get_service

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
PROVIDER_DELETION = (
    b'{"itinId": "abc123", "event": "TRIP_DELETION", "date": "2025-01-30T07:23:22.000+0000"}'
)


def key(service: str, doc: dict | bytes) -> str | None:
    spec = get_service(service)
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return spec.natural_key(spec.validate(raw), NOW)


def test_catalogue_has_the_five_services() -> None:
    """The catalogue names exactly the services of the spec."""
    assert set(CATALOGUE) == {"trip", "deleted-trip", "crash", "crash-report", "diagnosis"}


def test_natural_keys() -> None:
    """Each service's key comes from its documented field."""
    assert key("trip", {"itinId": "T1"}) == "T1"
    assert key("deleted-trip", PROVIDER_DELETION) == "abc123"
    assert key("crash", {"crashId": "C9", "crashStatus": "CONFIRMED"}) == "C9"
    assert key("crash-report", {"info": {"reportId": "R7"}}) == "R7"
    assert key("crash-report", {"tripConditions": {}}) is None  # the delivery id stands in
    assert key("diagnosis", {"userId": "u1"}) == "u1:2026-03-04"
    assert key("diagnosis", {"userId": "u1", "date": "2026-02-01T00:00:00Z"}) == "u1:2026-02-01"


def test_unknown_fields_pass_through() -> None:
    """New provider fields never break validation."""
    assert key("trip", {"itinId": "T1", "brandNewSection": {"x": [1, 2]}}) == "T1"


def test_empty_diagnosis_is_valid() -> None:
    """A diagnosis with no events is a valid heartbeat."""
    assert key("diagnosis", {"userId": "u1", "events": []}) is not None


@pytest.mark.parametrize(
    "service,raw,code,field",
    [
        ("trip", b"{not json", "invalid_json", None),
        ("trip", b"[1, 2]", "invalid_json", None),
        ("trip", b"{}", "missing_field", "itinId"),
        ("trip", b'{"itinId": 5}', "invalid_payload", "itinId"),
        (
            "trip",
            b'{"itinId": "T", "route": {"latitude": ["north"]}}',
            "invalid_payload",
            "route.latitude.0",
        ),
        (
            "deleted-trip",
            b'{"itinId": "T", "event": "TRIP_DELETION", "date": "yesterday"}',
            "invalid_payload",
            "date",
        ),
        (
            "deleted-trip",
            b'{"itinId": "T", "event": "OTHER", "date": "2025-01-30T07:23:22.000+0000"}',
            "invalid_payload",
            "event",
        ),
        ("crash", b'{"crashId": "C", "crashStatus": "MAYBE"}', "invalid_payload", "crashStatus"),
        ("diagnosis", b'{"smartphoneData": {}}', "missing_field", "userId"),
    ],
)
def test_bad_payloads_are_refused_clearly(
    service: str, raw: bytes, code: str, field: str | None
) -> None:
    """Malformed or incomplete documents get an error naming the field."""
    with pytest.raises(InvalidPayload) as info:
        get_service(service).validate(raw)
    assert info.value.code == code
    assert info.value.field == field
    assert service in info.value.message


def test_unknown_service_lists_the_known_ones() -> None:
    """An unknown service name is refused with the valid names."""
    with pytest.raises(UnknownService, match="trip, deleted-trip"):
        get_service("trips")
