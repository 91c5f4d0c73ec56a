"""The delivery contract, end to end: telepush and a receiver kit as real processes over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    StartReceiver,
    StartTelepush,
    oauth2_customer,
)
from tests.support.procs import wait_until

pytestmark = pytest.mark.e2e

TRIP = {"itinId": "trip-1", "userId": "u-1", "itineraryStatistics": {"distance": 12.5}}
DELETION = {"itinId": "trip-1", "event": "TRIP_DELETION", "date": "2025-01-30T07:23:22.000+0000"}


def pushes(requests: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [r for r in requests if r["path"] == f"/push/{service}"]


def test_oauth2_headers_params_and_one_token_for_all_services(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """OAuth2: Basic-authenticated token request with the configured headers and params; one
    token serves every service of the customer; the contract's headers arrive."""
    rec = start_receiver()
    tp = start_telepush()
    config = oauth2_customer(rec)
    config["auth"]["headers"] = {"X-Tenant": "fleet-7"}
    config["auth"]["params"] = {"audience": "push-api"}
    tp.put_customer("acme", config)
    ids = [
        tp.push("acme", "trip", TRIP),
        tp.push("acme", "crash", {"crashId": "c-1", "crashStatus": "CONFIRMED"}),
        tp.push("acme", "diagnosis", {"userId": "u-1", "events": []}),
    ]
    for delivery_id in ids:
        done = tp.wait_status(delivery_id, "delivered")
        assert len(done["attempts"]) == 1 and done["attempts"][0]["statusCode"] == 200

    log = rec.requests()
    token_requests = [r for r in log if r["path"] == "/oauth/token"]
    assert len(token_requests) == 1
    token_req = token_requests[0]
    assert token_req["authScheme"].lower() == "basic"
    assert token_req["query"] == {"audience": "push-api"}
    assert token_req["headers"].get("x-tenant") == "fleet-7"
    assert token_req.get("secretInBody") in (False, None)
    for service, delivery_id in zip(("trip", "crash", "diagnosis"), ids, strict=True):
        [push] = pushes(log, service)
        assert push["authScheme"].lower() == "bearer"
        assert push["headers"]["telepush-delivery-id"] == delivery_id
        assert push["headers"]["telepush-attempt"] == "1"
        assert push["headers"]["telepush-service"] == service
        assert push["headers"]["user-agent"].startswith("telepush/")
        assert push["headers"]["content-type"] == "application/json"
    assert CLIENT_SECRET not in tp.proc.log()  # never logged
    stored = rec.get("/trips/trip-1")
    assert stored["itinId"] == "trip-1" and stored["itineraryStatistics"]["distance"] == 12.5


@pytest.mark.parametrize("reject_status", [401, 403])
def test_token_renewed_on_configured_status(
    start_receiver: StartReceiver, start_telepush: StartTelepush, reject_status: int
) -> None:
    """A revoked token answered with 401 or 403 (as renewOn says) is renewed and the push
    re-sent at once: delivered in one attempt with a second token."""
    rec = start_receiver(f"rec{reject_status}", "--reject-status", str(reject_status))
    tp = start_telepush()
    config = oauth2_customer(rec)
    config["auth"]["renewOn"] = [reject_status]
    tp.put_customer("acme", config)
    tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
    rec.control("POST", "revoke-tokens")

    done = tp.wait_status(tp.push("acme", "trip", {**TRIP, "itinId": "trip-2"}), "delivered")
    assert len(done["attempts"]) == 1
    assert rec.control("GET", "tokens")["issued"] == 2
    answered = [r["status"] for r in pushes(rec.requests(), "trip")]
    assert answered == [200, reject_status, 200]


def test_status_outside_renew_on_is_a_plain_failure(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """403 with renewOn [401]: no renewal, an http_status failure that is retried."""
    rec = start_receiver("rec403", "--reject-status", "403")
    tp = start_telepush()
    config = oauth2_customer(rec)
    config["auth"]["renewOn"] = [401]
    tp.put_customer("acme", config)
    tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
    rec.control("POST", "revoke-tokens")
    delivery_id = tp.push("acme", "trip", {**TRIP, "itinId": "trip-2"})
    first = wait_until(
        lambda: (d := tp.delivery(delivery_id))["attempts"] and d, what="a first attempt"
    )
    assert first["attempts"][0]["statusCode"] == 403
    assert first["attempts"][0]["error"] == "http_status"
    assert rec.control("GET", "tokens")["issued"] == 1


def test_basic_auth(start_receiver: StartReceiver, start_telepush: StartTelepush) -> None:
    """Basic auth credentials go on every push; wrong ones are refused and retried."""
    rec = start_receiver(
        "basic", "--auth", "basic", "--username", "fleet", "--password", "pa55word"
    )
    tp = start_telepush()
    config = oauth2_customer(
        rec, auth={"type": "basic", "username": "fleet", "password": "pa55word"}
    )
    tp.put_customer("good", config)
    tp.wait_status(tp.push("good", "trip", TRIP), "delivered")
    assert [r["authScheme"].lower() for r in pushes(rec.requests(), "trip")] == ["basic"]

    bad = oauth2_customer(rec, auth={"type": "basic", "username": "fleet", "password": "nope"})
    tp.put_customer("bad", bad)
    delivery_id = tp.push("bad", "trip", TRIP)
    failed = wait_until(
        lambda: (d := tp.delivery(delivery_id))["attempts"] and d, what="a first attempt"
    )
    assert failed["attempts"][0]["statusCode"] == 401
    assert failed["status"] in ("pending", "sending")


def test_500_then_200_is_retried_and_delivered(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A 500 is retried by policy; the second attempt's 200 delivers; both attempts recorded."""
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", oauth2_customer(rec))
    rec.fault("/push/trip", 500, times=1, body={"error": "database unavailable"})
    done = tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
    assert [a["statusCode"] for a in done["attempts"]] == [500, 200]
    assert [a["number"] for a in done["attempts"]] == [1, 2]
    assert done["attempts"][0]["error"] == "http_status"
    assert "database unavailable" in done["attempts"][0]["response"]
    attempt_headers = [r["headers"]["telepush-attempt"] for r in pushes(rec.requests(), "trip")]
    assert attempt_headers == ["1", "2"]


def test_201_fails_by_default_and_succeeds_under_2xx(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """Only 200 means accepted, unless the customer opted in to any 2xx."""
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("strict", oauth2_customer(rec))
    tp.put_customer("lenient", oauth2_customer(rec, acceptedStatus="2xx"))
    rec.fault("/push/trip", 201, times=None)
    strict = tp.push("strict", "trip", TRIP)
    lenient = tp.push("lenient", "trip", {**TRIP, "itinId": "trip-2"})
    assert tp.wait_status(lenient, "delivered")["attempts"][0]["statusCode"] == 201
    first = wait_until(lambda: (d := tp.delivery(strict))["attempts"] and d, what="a first attempt")
    assert first["attempts"][0]["statusCode"] == 201
    assert first["attempts"][0]["error"] == "http_status"
    assert first["status"] != "delivered"


def test_redirect_is_a_failure_and_not_followed(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A 302 is recorded as a redirect failure; the redirect is not followed."""
    rec = start_receiver()
    tp = start_telepush()
    tp.put_customer("acme", oauth2_customer(rec))
    rec.fault("/push/trip", 302, times=1)
    done = tp.wait_status(tp.push("acme", "trip", TRIP), "delivered")
    assert done["attempts"][0]["statusCode"] == 302
    assert done["attempts"][0]["error"] == "redirect"
    assert len(pushes(rec.requests(), "trip")) == 2


def test_http_url_refused_at_configuration(start_telepush: StartTelepush) -> None:
    """An http:// service URL is refused when the customer is configured, naming the field."""
    tp = start_telepush()
    config = {
        "name": "x",
        "auth": {"type": "basic", "username": "u", "password": "p"},
        "services": {"trip": {"url": "http://127.0.0.1:9/push/trip"}},
    }
    resp = tp.call("PUT", "/v1/customers/x", config)
    assert resp.status == 422
    assert resp.json()["error"]["field"] == "services.trip.url"
    assert "https" in resp.json()["error"]["message"]
    assert tp.call("GET", "/v1/customers/x").status == 404


def test_private_address_refused_without_the_setting(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """Without TELEPUSH_ALLOW_PRIVATE_NETWORKS a loopback destination is blocked, not sent."""
    rec = start_receiver()
    tp = start_telepush(allow_private=False)
    tp.put_customer("acme", oauth2_customer(rec))
    done = tp.wait_status(tp.push("acme", "trip", TRIP), "failed")
    assert done["attempts"][0]["error"] in ("blocked", "auth")
    assert "TELEPUSH_ALLOW_PRIVATE_NETWORKS" in (done["attempts"][0].get("detail") or "")
    assert [r["path"] for r in rec.requests() if r["path"] != "/healthz"] == []


def test_deletion_supersedes_pending_trip(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A deletion cancels the customer's undelivered trip (payload erased) and is delivered."""
    rec = start_receiver()
    tp = start_telepush()
    config = oauth2_customer(rec)
    config["services"]["trip"]["retry"] = {"delays": ["1h"], "jitter": 0}
    tp.put_customer("acme", config)
    rec.fault("/push/trip", 503, times=1)
    trip_id = tp.push("acme", "trip", TRIP)
    wait_until(lambda: tp.delivery(trip_id)["attempts"], what="the trip's failed attempt")
    deletion_id = tp.push("acme", "deleted-trip", DELETION)
    assert tp.wait_status(deletion_id, "delivered")
    assert tp.delivery(trip_id)["status"] == "superseded"
    deletions = rec.get("/deletions")
    items = deletions["items"] if isinstance(deletions, dict) else deletions
    assert any(d["itinId"] == "trip-1" for d in items)
    assert len(pushes(rec.requests(), "trip")) == 1


def test_credentials_sent_only_to_the_token_endpoint(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """The client secret is never echoed by the API."""
    rec = start_receiver()
    tp = start_telepush()
    shown = tp.put_customer("acme", oauth2_customer(rec))
    assert CLIENT_SECRET not in str(shown)
    assert CLIENT_SECRET not in tp.call("GET", "/v1/customers/acme").body.decode()
    assert CLIENT_SECRET not in tp.call("GET", "/v1/customers").body.decode()
    assert shown["auth"]["clientId"] == CLIENT_ID
