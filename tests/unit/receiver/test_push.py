"""Push endpoints: authentication, validation and what a push answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from telepush.receiver import ReceiverThread
from telepush.synth import Synth, to_bytes
from tests.unit.receiver.conftest import PASSWORD, USERNAME, Api, StartReceiver, basic

PROVIDER_DELETION = (
    b'{"itinId": "6795f1a3b4c2d10001e2f3a4", "event": "TRIP_DELETION", '
    b'"date": "2025-01-30T07:23:22.000+0000"}'
)


async def test_valid_token_push_is_accepted_and_stored(api: Api) -> None:
    """A trip pushed with a valid bearer token gets 200 and is readable byte for byte."""
    body = to_bytes(Synth(1).trip(itin_id="trip-1", points=50))
    bearer = await api.bearer()
    reply = await api.push("trip", body, bearer, delivery_id="d-1")
    assert reply.status == 200
    assert reply.json()["outcome"] == "stored"
    assert reply.json()["key"] == "trip-1"
    stored = await api.get("/trips/trip-1", bearer)
    assert stored.status == 200
    assert stored.body == body


async def test_every_service_is_accepted(api: Api) -> None:
    """One document of each service gets 200 on its default /push/<service> path."""
    synth = Synth(2)
    bearer = await api.bearer()
    for index, service in enumerate(("trip", "deleted-trip", "crash", "crash-report", "diagnosis")):
        reply = await api.push(
            service, to_bytes(synth.document(service)), bearer, delivery_id=f"e{index}"
        )
        assert reply.status == 200, (service, reply.body)
    stats = (await api.get("/stats", bearer)).json()
    assert stats["stored"] == {
        "trip": 1,
        "deleted-trip": 1,
        "crash": 1,
        "crash-report": 1,
        "diagnosis": 1,
    }


async def test_provider_deletion_sample_is_accepted(api: Api) -> None:
    """The provider's own deleted-trip sample is accepted as is."""
    reply = await api.push("deleted-trip", PROVIDER_DELETION, await api.bearer(), delivery_id="x")
    assert reply.status == 200
    assert reply.json()["key"] == "6795f1a3b4c2d10001e2f3a4"


async def test_missing_authorization_is_401_with_challenge(api: Api) -> None:
    """A push without credentials gets 401 and a Bearer challenge, and stores nothing."""
    reply = await api.push("crash", to_bytes(Synth(3).crash()), None)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer ")
    assert (await api.get("/stats", await api.bearer())).json()["receiptsTotal"] == 0


async def test_unknown_token_gets_reject_status_401(api: Api) -> None:
    """An unknown bearer token gets 401 invalid_token."""
    reply = await api.push("crash", to_bytes(Synth(3).crash()), "Bearer not-a-token")
    assert reply.status == 401
    assert reply.json()["error"]["code"] == "invalid_token"
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


async def test_unknown_token_gets_reject_status_403(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """With reject_status=403, an unknown or revoked token gets 403."""
    api = api_for(start_receiver(reject_status=403))
    bearer = await api.bearer()
    body = to_bytes(Synth(3).crash())
    assert (await api.push("crash", b"{}", "Bearer forged")).status == 403
    await api.control("POST", "/revoke-tokens")
    assert (await api.push("crash", body, bearer)).status == 403
    assert (await api.push("crash", body, await api.bearer())).status == 200


async def test_expired_token_is_rejected(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """A token past its expires_in gets the reject status; a new one works."""
    api = api_for(start_receiver(token_ttl_s=1))
    bearer = await api.bearer()
    body = to_bytes(Synth(4).crash())
    assert (await api.push("crash", body, bearer, delivery_id="a")).status == 200
    await asyncio.sleep(1.2)
    assert (await api.push("crash", body, bearer, delivery_id="b")).status == 401
    assert (await api.push("crash", body, await api.bearer(), delivery_id="b")).status == 200


async def test_revoked_tokens_are_rejected_until_renewed(api: Api) -> None:
    """After revoke-tokens, the old token gets 401 and a fresh token is accepted."""
    bearer = await api.bearer()
    body = to_bytes(Synth(5).diagnosis("u1"))
    assert (await api.control("POST", "/revoke-tokens"))["revoked"] == 1
    assert (await api.push("diagnosis", body, bearer, delivery_id="r")).status == 401
    assert (await api.push("diagnosis", body, await api.bearer(), delivery_id="r")).status == 200
    assert (await api.control("GET", "/tokens"))["issued"] == 2


async def test_basic_mode_checks_the_pair(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """In basic mode the Basic pair is required on pushes, and there is no token endpoint."""
    api = api_for(
        start_receiver(
            auth_mode="basic",
            username=USERNAME,
            password=PASSWORD,
            client_id=None,
            client_secret=None,
        )
    )
    body = to_bytes(Synth(6).crash(crash_id="c-1"))
    good = basic(USERNAME, PASSWORD)
    assert (await api.push("crash", body, good, delivery_id="1")).status == 200
    wrong = await api.push("crash", body, basic(USERNAME, "nope"), delivery_id="2")
    assert wrong.status == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await api.push("crash", body, "Bearer whatever", delivery_id="3")).status == 401
    assert (await api.get("/crashes/c-1", good)).body == body
    assert (
        await api.request("POST", "/oauth/token", data="grant_type=client_credentials")
    ).status in (404, 405)


async def test_invalid_json_is_400(api: Api) -> None:
    """A body that is not JSON gets 400 invalid_json."""
    reply = await api.push("trip", b'{"itinId": "x",', await api.bearer())
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_json"


async def test_json_that_is_not_an_object_is_400(api: Api) -> None:
    """A JSON array gets 400: one document is one object."""
    reply = await api.push("trip", b"[1, 2]", await api.bearer())
    assert reply.status == 400


async def test_missing_key_is_422_naming_the_field(api: Api) -> None:
    """A crash without crashId gets 422 naming the missing field."""
    reply = await api.push("crash", b'{"userId": "u"}', await api.bearer())
    assert reply.status == 422
    assert reply.json()["error"]["field"] == "crashId"


async def test_wrong_field_type_is_422(api: Api) -> None:
    """A deletion with a date not in the provider's format gets 422."""
    body = b'{"itinId": "a", "event": "TRIP_DELETION", "date": "30/01/2025"}'
    reply = await api.push("deleted-trip", body, await api.bearer())
    assert reply.status == 422
    assert reply.json()["error"]["field"] == "date"


async def test_non_json_content_type_is_415(api: Api) -> None:
    """A push declared as text/plain gets 415."""
    reply = await api.push(
        "crash",
        to_bytes(Synth(7).crash()),
        await api.bearer(),
        extra={"Content-Type": "text/plain"},
    )
    assert reply.status == 415


async def test_service_header_must_match_the_endpoint(api: Api) -> None:
    """A Telepush-Service header naming another service gets 400."""
    reply = await api.push(
        "crash",
        to_bytes(Synth(7).crash()),
        await api.bearer(),
        extra={"Telepush-Service": "trip"},
    )
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "wrong_service"


async def test_body_over_the_limit_is_413(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """A body over max_body_bytes gets 413 and is not stored."""
    api = api_for(start_receiver(max_body_bytes=10_000))
    body = to_bytes(Synth(8).trip_of_size(50_000))
    reply = await api.push("trip", body, await api.bearer())
    assert reply.status == 413


async def test_large_trip_is_accepted(api: Api) -> None:
    """A 2 MB trip is validated and stored intact."""
    body = to_bytes(Synth(9).trip_of_size(2_000_000, itin_id="big"))
    bearer = await api.bearer()
    assert (await api.push("trip", body, bearer, delivery_id="big-1")).status == 200
    assert (await api.get("/trips/big", bearer)).body == body


async def test_custom_push_paths(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """push_paths moves a service's endpoint; the others keep their defaults."""
    api = api_for(start_receiver(push_paths={"crash": "/hooks/crash"}))
    bearer = await api.bearer()
    assert api.settings.push_paths["crash"] == "/hooks/crash"
    assert (await api.push("crash", to_bytes(Synth(1).crash()), bearer)).status == 200
    assert (await api.push("diagnosis", to_bytes(Synth(1).diagnosis()), bearer)).status == 200


async def test_refused_large_push_leaves_the_connection_usable(api: Api) -> None:
    """A 1 MB push refused for its token is followed by a normal push on the same client."""
    body = to_bytes(Synth(10).trip_of_size(1_000_000, itin_id="after-refusal"))
    bearer = await api.bearer()
    for _ in range(3):
        assert (await api.push("trip", body, "Bearer stale")).status == 401
    assert (await api.push("trip", body, bearer, delivery_id="ok")).status == 200
