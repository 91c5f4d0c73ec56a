"""OAuth2 client credentials: the token request, the shared cache, renewal, failures."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from telepush.delivery import Sender, TokenCache, TokenError
from telepush.delivery.auth import TokenReply, renew_after_s
from telepush.domain.delivery import ErrorKind
from tests.support.certs import CertFiles
from tests.unit.delivery.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeClock,
    HttpsServer,
    TokenEndpoint,
    oauth2,
    push,
)

SECRET = CLIENT_SECRET.encode()


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved monotonic clock."""
    return FakeClock()


@pytest.fixture
async def oauth_sender(
    certs: CertFiles, server: HttpsServer, tokens: TokenEndpoint, clock: FakeClock
) -> AsyncIterator[Sender]:
    """A sender on the fake clock; the server's /push needs a live bearer token."""
    server.handlers["/push"] = tokens.protected
    async with Sender(ca_bundle=certs.ca_pem, allow_private_networks=True, clock=clock) as s:
        yield s


async def test_token_request_is_as_specified(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """Basic credentials, form grant_type, no secret in the body, custom headers and params."""
    auth = oauth2(
        server,
        url=server.url("/token") + "?tenant=t1",
        headers={"X-Api-Key": "k-1", "Authorization": "ignored"},
        params={"audience": "https://api.acme.example", "scope": "push"},
    )
    result = await oauth_sender.send(push(server.url(), auth))
    assert result.ok
    [request] = server.requests("/token")
    assert request.method == "POST"
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["X-Api-Key"] == "k-1"
    assert request.body == b"grant_type=client_credentials"
    assert CLIENT_SECRET.encode() not in request.body
    assert request.query == {
        "tenant": "t1",
        "audience": "https://api.acme.example",
        "scope": "push",
    }
    [pushed] = server.requests("/push")
    assert pushed.headers["Authorization"] == "Bearer tok-1"


async def test_one_token_for_many_sends_and_services(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """One token serves every push of a customer, across its services."""
    auth = oauth2(server)
    for n in range(5):
        for service in ("trip", "crash"):
            result = await oauth_sender.send(
                push(server.url(), auth, service=service, delivery_id=f"{service}-{n}")
            )
            assert result.ok and not result.token_renewed
    assert tokens.issued == ["tok-1"]
    assert len(server.requests("/push")) == 10


async def test_concurrent_sends_make_one_token_request(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """Twenty concurrent pushes needing a token cause exactly one token request."""
    tokens.delay_s = 0.1
    auth = oauth2(server)
    results = await asyncio.gather(
        *(oauth_sender.send(push(server.url(), auth, delivery_id=f"d-{n}")) for n in range(20))
    )
    assert all(r.ok for r in results)
    assert len(server.requests("/token")) == 1
    assert {s.headers["Authorization"] for s in server.requests("/push")} == {"Bearer tok-1"}


async def test_customers_and_revisions_have_their_own_tokens(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """Tokens are cached per (customer, revision): another customer or a new revision fetches."""
    auth = oauth2(server)
    await oauth_sender.send(push(server.url(), auth, customer_id="acme", customer_revision=1))
    await oauth_sender.send(push(server.url(), auth, customer_id="globex", customer_revision=1))
    await oauth_sender.send(push(server.url(), auth, customer_id="acme", customer_revision=2))
    await oauth_sender.send(push(server.url(), auth, customer_id="acme", customer_revision=2))
    assert tokens.issued == ["tok-1", "tok-2", "tok-3"]


async def test_expired_token_is_renewed(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint, clock: FakeClock
) -> None:
    """A token is used until shortly before expires_in, then a new one is fetched."""
    auth = oauth2(server)
    await oauth_sender.send(push(server.url(), auth))
    clock.advance(3600 - 31)
    await oauth_sender.send(push(server.url(), auth))
    assert tokens.issued == ["tok-1"]
    clock.advance(2)
    result = await oauth_sender.send(push(server.url(), auth))
    assert result.ok and not result.token_renewed
    assert tokens.issued == ["tok-1", "tok-2"]
    assert server.requests("/push")[-1].headers["Authorization"] == "Bearer tok-2"


async def test_missing_expires_in_means_one_hour(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint, clock: FakeClock
) -> None:
    """A token reply without expires_in is kept for about an hour."""
    tokens.expires_in = None
    auth = oauth2(server)
    await oauth_sender.send(push(server.url(), auth))
    clock.advance(3000)
    await oauth_sender.send(push(server.url(), auth))
    assert tokens.issued == ["tok-1"]
    clock.advance(600)
    await oauth_sender.send(push(server.url(), auth))
    assert tokens.issued == ["tok-1", "tok-2"]


def test_short_tokens_renew_at_half_life() -> None:
    """Long tokens renew 30 s early; short ones at half their life."""
    assert renew_after_s(3600) == 3570
    assert renew_after_s(40) == 20
    assert renew_after_s(0) == 0


async def test_401_renews_token_and_resends_once(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """A 401 with renewOn [401] renews the token and re-sends once: ok, token_renewed."""
    auth = oauth2(server, renewOn=[401])
    await oauth_sender.send(push(server.url(), auth))
    tokens.revoked.add("tok-1")
    result = await oauth_sender.send(push(server.url(), auth, delivery_id="d-2"))
    assert result.ok and result.status_code == 200
    assert result.token_renewed is True
    assert tokens.issued == ["tok-1", "tok-2"]
    second_push = [
        s for s in server.requests("/push") if s.headers["Telepush-Delivery-Id"] == "d-2"
    ]
    assert [s.headers["Authorization"] for s in second_push] == ["Bearer tok-1", "Bearer tok-2"]


async def test_403_without_renew_on_403_is_plain_failure(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """A 403 when only 401 renews is an ordinary HTTP failure: no new token, no re-send."""

    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403, text="forbidden")

    server.handlers["/push"] = forbidden
    result = await oauth_sender.send(push(server.url(), oauth2(server, renewOn=[401])))
    assert not result.ok
    assert result.error is ErrorKind.HTTP_STATUS
    assert result.status_code == 403
    assert result.token_renewed is False
    assert tokens.issued == ["tok-1"]
    assert len(server.requests("/push")) == 1


async def test_renewal_still_refused_is_a_failure(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """If the re-send with a fresh token is refused too, the result describes that reply."""

    async def always_401(request: web.Request) -> web.Response:
        return web.Response(status=401, text="nope")

    server.handlers["/push"] = always_401
    result = await oauth_sender.send(push(server.url(), oauth2(server)))
    assert not result.ok
    assert result.status_code == 401 and result.error is ErrorKind.HTTP_STATUS
    assert result.token_renewed is True
    assert len(server.requests("/push")) == 2
    assert tokens.issued == ["tok-1", "tok-2"]


async def test_concurrent_401s_cause_one_renewal(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """Many pushes refused with the same stale token renew it once, not once each."""
    auth = oauth2(server)
    await oauth_sender.send(push(server.url(), auth))
    tokens.revoked.add("tok-1")
    tokens.delay_s = 0.05
    results = await asyncio.gather(
        *(oauth_sender.send(push(server.url(), auth, delivery_id=f"d-{n}")) for n in range(20))
    )
    assert all(r.ok and r.token_renewed for r in results)
    assert tokens.issued == ["tok-1", "tok-2"]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, b'{"error":"invalid_client","echo":"%s"}' % SECRET, "HTTP 401"),
        (500, b"token service exploded: %s" % SECRET, "HTTP 500"),
        (200, b"<html>not json %s</html>" % SECRET, "not JSON"),
        (200, b'{"token_type":"Bearer","echo":"%s"}' % SECRET, "access_token"),
        (200, b'["%s"]' % SECRET, "JSON object"),
    ],
)
async def test_token_endpoint_failure_is_auth(
    oauth_sender: Sender, server: HttpsServer, status: int, body: bytes, expected: str
) -> None:
    """A failing token endpoint makes an AUTH result with a readable detail, never the secret."""

    async def bad_token_endpoint(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body)

    server.handlers["/token"] = bad_token_endpoint
    result = await oauth_sender.send(push(server.url(), oauth2(server)))
    assert not result.ok
    assert result.error is ErrorKind.AUTH
    assert result.detail is not None
    assert expected in result.detail
    assert server.url("/token") in result.detail
    assert CLIENT_SECRET not in result.detail
    assert server.requests("/push") == []


async def test_wrong_credentials_are_auth(
    oauth_sender: Sender, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """Credentials the token endpoint rejects give AUTH with its 401 in the detail."""
    result = await oauth_sender.send(push(server.url(), oauth2(server, clientSecret="wrong")))
    assert result.error is ErrorKind.AUTH
    assert (
        result.detail is not None
        and "HTTP 401" in result.detail
        and "invalid_client" in result.detail
    )
    assert "wrong" not in result.detail


async def test_token_endpoint_on_refused_network_is_blocked(
    certs: CertFiles, server: HttpsServer, tokens: TokenEndpoint
) -> None:
    """A token endpoint on a refused network gives BLOCKED (the guard applies to it too)."""
    async with Sender(ca_bundle=certs.ca_pem) as sender:  # private networks refused
        result = await sender.send(push("https://push.invalid/push", oauth2(server)))
    assert result.error is ErrorKind.BLOCKED
    assert result.detail is not None and "TELEPUSH_ALLOW_PRIVATE_NETWORKS" in result.detail
    assert server.seen == []


async def test_token_endpoint_timeout_is_auth(certs: CertFiles, server: HttpsServer) -> None:
    """A token endpoint slower than the total timeout gives AUTH with a timeout detail."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.wait_for(server.release.wait(), 10.0)
        return web.json_response({"access_token": "late"})

    server.handlers["/token"] = slow
    async with Sender(
        ca_bundle=certs.ca_pem, allow_private_networks=True, total_timeout_s=0.3
    ) as sender:
        result = await sender.send(push(server.url(), oauth2(server)))
    assert result.error is ErrorKind.AUTH
    assert result.detail is not None and "within" in result.detail


async def test_cache_shares_a_failure_with_concurrent_waiters() -> None:
    """Callers waiting on a failing fetch get its error; none of them fetch again."""
    cache = TokenCache()
    calls = 0

    async def failing() -> TokenReply:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise TokenError("token endpoint down")

    outcomes = await asyncio.gather(
        *(cache.get(("acme", 1), failing) for _ in range(10)), return_exceptions=True
    )
    assert calls == 1
    assert all(isinstance(o, TokenError) and o.detail == "token endpoint down" for o in outcomes)

    async def working() -> TokenReply:
        return TokenReply("fresh", 3600)

    assert await cache.get(("acme", 1), working) == "fresh"


async def test_invalidate_only_drops_the_named_token() -> None:
    """invalidate() drops the cached token only if it is still the one that was refused."""
    cache = TokenCache()

    async def fetch() -> TokenReply:
        return TokenReply("tok-A", 3600)

    await cache.get(("acme", 1), fetch)
    assert cache.invalidate(("acme", 1), "tok-old") is False
    assert cache.invalidate(("acme", 1), "tok-A") is True
    assert cache.invalidate(("acme", 1), "tok-A") is False
