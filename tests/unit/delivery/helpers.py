"""Test helpers: a local HTTPS server (aiohttp.web, 127.0.0.1) with an OAuth2 token endpoint."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from telepush.delivery import PushRequest
from telepush.domain.customer import BasicAuth, OAuth2Auth
from telepush.domain.delivery import StoredPayload

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT_ID = "client-7"
CLIENT_SECRET = "s3cr3t-Value"


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    peer: tuple[str, int]


@dataclass
class TokenEndpoint:
    """Client-credentials token endpoint: Basic-authenticated, issues tok-1, tok-2, ..."""

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    expires_in: int | None = 3600
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    delay_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = f"tok-{len(self.issued) + 1}"
        self.issued.append(token)
        reply: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            reply["expires_in"] = self.expires_in
        return web.json_response(reply)

    def is_valid(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        return auth.startswith("Bearer ") and token in self.issued and token not in self.revoked

    async def protected(self, request: web.Request) -> web.Response:
        """A push endpoint that answers 200 to a live token and 401 otherwise."""
        if not self.is_valid(request):
            return web.Response(status=401, text="bad token")
        return web.Response(text="ok")


class HttpsServer:
    """Records every request; ``handlers`` maps a path to its handler (default: 200 "ok").

    ``/token`` is served by ``tokens``, a client-credentials token endpoint.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.tokens = TokenEndpoint()
        self.handlers: dict[str, Handler] = {"/token": self.tokens.handle}
        self.seen: list[Seen] = []
        self.release = asyncio.Event()  # lets slow handlers finish at teardown
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                request.headers,
                body,
                tuple(peer[:2]) if peer else ("", 0),
            )
        )
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(text="ok")
        return await handler(request)

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/push", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def requests(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


ServerFactory = Callable[..., Awaitable[HttpsServer]]
"""The ``make_server`` fixture: ``await make_server(ssl_context=None)``."""


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def oauth2(server: HttpsServer, **overrides: Any) -> OAuth2Auth:
    data: dict[str, Any] = {
        "type": "oauth2",
        "url": server.url("/token"),
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    }
    data.update(overrides)
    return OAuth2Auth.model_validate(data)


def basic(username: str = "alice", password: str = "pa:ss-wörd") -> BasicAuth:
    return BasicAuth.model_validate({"type": "basic", "username": username, "password": password})


def push(
    url: str,
    auth: OAuth2Auth | BasicAuth | None = None,
    *,
    payload: bytes | StoredPayload = b'{"itinId":"T1"}',
    service: str = "trip",
    delivery_id: str = "d-1",
    attempt_number: int = 1,
    customer_id: str = "acme",
    customer_revision: int = 1,
    accepted_status: str = "200",
) -> PushRequest:
    return PushRequest(
        url=url,
        service=service,
        delivery_id=delivery_id,
        attempt_number=attempt_number,
        payload=payload,
        customer_id=customer_id,
        customer_revision=customer_revision,
        auth=auth or basic(),
        accepted_status=accepted_status,
    )
