"""Customer configuration: the spec's field names, and a clear error naming each bad field."""

from __future__ import annotations

from typing import Any

import pytest

from telepush.domain.customer import CustomerConfig, check_customer_id
from telepush.errors import InvalidInput


def config(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Acme Insurance",
        "auth": {
            "type": "oauth2",
            "url": "https://auth.example.com/token",
            "clientId": "acme",
            "clientSecret": "s3cret",
            "headers": {"X-Tenant": "7"},
            "params": {"audience": "push"},
            "renewOn": [401],
        },
        "services": {
            "trip": {
                "url": "https://api.example.com/trips",
                "enabled": True,
                "retry": {"maxAttempts": 5},
            }
        },
        "acceptedStatus": "2xx",
    }
    base.update(over)
    return base


def error_of(data: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        CustomerConfig.parse(data)
    return info.value


def test_spec_shape_parses_and_hides_secrets() -> None:
    """The SPEC §5 shape parses; the public view never holds the secret."""
    cfg = CustomerConfig.parse(config())
    public = cfg.public()
    assert public["auth"]["clientId"] == "acme"
    assert public["auth"]["renewOn"] == [401]
    assert "clientSecret" not in public["auth"]
    assert "s3cret" not in str(public)
    assert cfg.with_secrets()["auth"]["clientSecret"] == "s3cret"
    assert cfg.retry_policy("trip").max_attempts == 5


def test_basic_auth_parses() -> None:
    """Basic auth takes username and password; the password is never shown."""
    cfg = CustomerConfig.parse(config(auth={"type": "basic", "username": "u", "password": "pw"}))
    assert "password" not in cfg.public()["auth"]


@pytest.mark.parametrize(
    "over,field,words",
    [
        (
            {"services": {"trip": {"url": "http://api.example.com/t"}}},
            "services.trip.url",
            "http://",
        ),
        (
            {
                "auth": {
                    "type": "oauth2",
                    "url": "http://a.example.com/t",
                    "clientId": "c",
                    "clientSecret": "s",
                }
            },
            "auth.url",
            "http://",
        ),
        (
            {"services": {"trips": {"url": "https://a.example.com"}}},
            "services.trips",
            "unknown service",
        ),
        (
            {"auth": {"type": "oauth2", "url": "https://a.example.com/t", "clientId": "c"}},
            "auth.clientSecret",
            "required",
        ),
        ({"auth": {"type": "basic", "username": "u"}}, "auth.password", "required"),
        ({"auth": {"type": "apikey"}}, "auth", "oauth2"),
        (
            {"services": {"trip": {"url": "https://a.example.com", "retry": {"delays": ["1x"]}}}},
            "services.trip.retry.delays",
            "duration",
        ),
        (
            {"services": {"trip": {"url": "https://a.example.com", "retry": {"bogus": 1}}}},
            "services.trip.retry.bogus",
            "not a known field",
        ),
        ({"acceptedStatus": "201"}, "acceptedStatus", ""),
        ({"services": {}}, "services", ""),
        (
            {
                "auth": {
                    "type": "oauth2",
                    "url": "https://a.example.com/t",
                    "clientId": "c",
                    "clientSecret": "s",
                    "renewOn": [500],
                }
            },
            "auth.renewOn.0",
            "",
        ),
    ],
)
def test_bad_fields_are_named(over: dict[str, Any], field: str, words: str) -> None:
    """Each refusal names the camelCase field and says what was wrong."""
    err = error_of(config(**over))
    assert err.field == field
    assert words in err.message


def test_customer_id_rules() -> None:
    """Customer ids are URL-safe and bounded."""
    assert check_customer_id("acme-01.eu_2") == "acme-01.eu_2"
    for bad in ("", "-x", "a/b", "a" * 129, "é"):
        with pytest.raises(InvalidInput):
            check_customer_id(bad)
