"""The OAuth2 client-credentials token endpoint."""

from __future__ import annotations

from collections.abc import Callable

from telepush.receiver import ReceiverThread
from tests.unit.receiver.conftest import CLIENT_ID, CLIENT_SECRET, Api, StartReceiver, basic


async def test_issues_a_bearer_token_that_must_not_be_cached(api: Api) -> None:
    """Valid Basic client credentials and grant_type=client_credentials give a bearer token."""
    reply = await api.token_reply()
    assert reply.status == 200
    body = reply.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) >= 32
    assert reply.headers["Cache-Control"] == "no-store"
    assert (await api.control("GET", "/tokens"))["issued"] == 1


async def test_each_request_gets_a_new_random_token(api: Api) -> None:
    """Two token requests give two different tokens."""
    assert await api.token() != await api.token()


async def test_wrong_secret_is_invalid_client(api: Api) -> None:
    """A wrong client secret gets 401 invalid_client with a Basic challenge, and no token."""
    reply = await api.token_reply(auth=basic(CLIENT_ID, "wrong"))
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await api.control("GET", "/tokens"))["issued"] == 0


async def test_unknown_client_is_invalid_client(api: Api) -> None:
    """An unknown client id gets 401 invalid_client."""
    reply = await api.token_reply(auth=basic("someone-else", CLIENT_SECRET))
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


async def test_missing_client_authentication_is_401(api: Api) -> None:
    """Without HTTP Basic, even with the credentials in the body, the client is refused."""
    form = f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=x"
    reply = await api.request(
        "POST",
        "/oauth/token",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


async def test_other_grant_type_is_unsupported(api: Api) -> None:
    """grant_type=password gets 400 unsupported_grant_type."""
    reply = await api.token_reply(form="grant_type=password&username=a&password=b")
    assert reply.status == 400
    assert reply.json()["error"] == "unsupported_grant_type"


async def test_missing_grant_type_is_invalid_request(api: Api) -> None:
    """A form without grant_type gets 400 invalid_request."""
    reply = await api.token_reply(form="scope=push")
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"


async def test_non_form_body_is_invalid_request(api: Api) -> None:
    """A JSON body instead of a form gets 400 invalid_request."""
    reply = await api.token_reply(
        form='{"grant_type": "client_credentials"}', content_type="application/json"
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"


async def test_secret_also_in_the_body_is_rejected_and_logged(api: Api) -> None:
    """A client secret repeated in the body is refused (400), and the log flags it unredacted."""
    form = "grant_type=client_credentials&client_secret=" + CLIENT_SECRET.replace("+", "%2B")
    reply = await api.token_reply(form=form)
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"
    entry = (await api.control("GET", "/requests"))["items"][-1]
    assert entry["secretInBody"] is True
    assert CLIENT_SECRET not in str(entry)


async def test_token_request_log_keeps_params_and_headers_but_no_secret(api: Api) -> None:
    """The request log shows query params, custom headers and the auth scheme, never secrets."""
    headers = {
        "Authorization": basic(CLIENT_ID, CLIENT_SECRET),
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Tenant": "acme",
        "X-Api-Key": "do-not-log-me",
    }
    reply = await api.request(
        "POST",
        "/oauth/token?audience=push&region=eu",
        data="grant_type=client_credentials",
        headers=headers,
    )
    assert reply.status == 200
    entry = (await api.control("GET", "/requests?path=/oauth/token"))["items"][-1]
    assert entry["query"] == {"audience": "push", "region": "eu"}
    assert entry["headers"]["x-tenant"] == "acme"
    assert entry["headers"]["x-api-key"] == "<redacted>"
    assert entry["authScheme"] == "Basic"
    assert entry["secretInBody"] is False
    assert entry["grantType"] == "client_credentials"
    assert entry["status"] == 200
    text = str(entry)
    assert CLIENT_SECRET not in text and "do-not-log-me" not in text
    assert basic(CLIENT_ID, CLIENT_SECRET).split()[1] not in text


async def test_custom_token_path_and_ttl(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """token_path and token_ttl_s configure where tokens are issued and how long they live."""
    api = api_for(start_receiver(token_path="/auth/v2/token", token_ttl_s=120))
    reply = await api.token_reply()
    assert reply.status == 200
    assert reply.json()["expires_in"] == 120
    assert (await api.request("POST", "/oauth/token")).status in (404, 405)
