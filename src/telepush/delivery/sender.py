"""One HTTP attempt of one delivery: ``Sender.send(PushRequest) -> AttemptResult``.

The sender never raises (but for cancellation): every outcome, including a refused
destination or a failing token endpoint, is an ``AttemptResult``. One aiohttp session lives
as long as the sender, so connections to a customer's host are kept alive and reused.
"""

from __future__ import annotations

import asyncio
import errno
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import TracebackType

import aiohttp
from yarl import URL

from telepush import USER_AGENT
from telepush.delivery.auth import TokenCache, TokenClient, TokenError, push_authorization
from telepush.delivery.failures import classify_exception
from telepush.delivery.guard import BlockedDestination, GuardedResolver, check_ip_literal
from telepush.delivery.reply import parse_retry_after, preview, read_capped
from telepush.delivery.tls import client_ssl_context
from telepush.domain.customer import BasicAuth, OAuth2Auth
from telepush.domain.delivery import AttemptResult, ErrorKind, classify_status


@dataclass(frozen=True)
class PushRequest:
    """Everything one attempt needs; built by the worker from a claimed delivery."""

    url: str
    service: str
    delivery_id: str
    attempt_number: int
    payload: bytes = field(repr=False)  # personal data: kept out of reprs and logs
    customer_id: str
    customer_revision: int
    auth: OAuth2Auth | BasicAuth
    accepted_status: str


# A kept-alive connection the server closed just as it was reused: the request went
# unanswered, so it is sent again once. Not connect failures (ClientConnectorError): those
# are the customer's endpoint being down, and an immediate second try would not help.
_RETRY_ONCE = (aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionResetError)
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def _unanswered_drop(exc: BaseException) -> bool:
    """The connection broke before any reply: a stale kept-alive connection, typically."""
    if isinstance(exc, _RETRY_ONCE):
        return True
    return (
        isinstance(exc, aiohttp.ClientOSError)
        and not isinstance(exc, aiohttp.ClientConnectorError)
        and exc.errno in _RESET_ERRNOS
    )


_URL_CACHE_SIZE = 4096


class Sender:
    """Pushes documents over HTTPS; one instance per process, shared by all workers."""

    def __init__(
        self,
        *,
        ca_bundle: str | Path | None = None,
        allow_private_networks: bool = False,
        connect_timeout_s: float = 5.0,
        total_timeout_s: float = 30.0,
        max_connections: int = 512,
        max_response_bytes: int = 65536,
        response_preview_bytes: int = 1024,
        token_cache: TokenCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        keepalive_timeout_s: float = 4.0,
    ) -> None:
        """``clock`` drives token expiry when no ``token_cache`` is given.

        ``keepalive_timeout_s`` closes idle pooled connections before common servers do
        (uvicorn and Node.js drop idle ones after 5 s), which avoids most writes onto a
        connection the server is just closing.
        """
        self._ssl = client_ssl_context(ca_bundle)  # a bad bundle fails here, at start-up
        self._allow_private = allow_private_networks
        self._connect_timeout_s = connect_timeout_s
        self._total_timeout_s = total_timeout_s
        # sock_connect bounds TCP connect + TLS handshake per address; total bounds the
        # whole exchange (pool wait, DNS, connect, request, reply). ``connect`` is left
        # unset so waiting for a free pool slot is not reported as the customer's fault.
        self._timeout = aiohttp.ClientTimeout(total=total_timeout_s, sock_connect=connect_timeout_s)
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._preview_bytes = response_preview_bytes
        self._keepalive_timeout_s = keepalive_timeout_s
        self.tokens = token_cache if token_cache is not None else TokenCache(clock=clock)
        self._session: aiohttp.ClientSession | None = None
        self._token_client: TokenClient | None = None
        self._closed = False
        # Parsed and checked destination per URL string: a URL (may be sent to) or the
        # refusal. Customers' URLs are few; the cache is cleared if it ever grows large.
        self._destinations: dict[str, URL | AttemptResult] = {}

    async def start(self) -> None:
        """Open the connection pool (``send`` does it on first use too)."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            ssl=self._ssl,
            limit=self._max_connections,
            resolver=GuardedResolver(allow_private_networks=self._allow_private),
            keepalive_timeout=self._keepalive_timeout_s,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": USER_AGENT},
            # No skip_auto_headers: aiohttp builds a header set per request for it. Each
            # request says "Accept-Encoding: identity" instead (replies are not decompressed).
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # no cookies carried between customers
            trust_env=False,  # no proxy from the environment
        )
        self._token_client = TokenClient(
            self._session,
            timeout=self._timeout,
            allow_private_networks=self._allow_private,
            max_reply_bytes=self._max_response_bytes,
            preview_bytes=self._preview_bytes,
        )

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Sender:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, req: PushRequest) -> AttemptResult:
        """One attempt (plus one immediate re-send after an OAuth2 token renewal)."""
        started = time.perf_counter()
        try:
            result = await self._send(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a net under _send, which maps the expected failures
            result = self._failure(exc)
        return replace(result, duration_ms=round((time.perf_counter() - started) * 1000))

    async def _send(self, req: PushRequest) -> AttemptResult:
        if self._closed:
            return AttemptResult(ok=False, error=ErrorKind.CONNECT, detail="sender is closed")
        url = self._destinations.get(req.url)
        if url is None:
            if len(self._destinations) >= _URL_CACHE_SIZE:
                self._destinations.clear()
            url = self._destinations[req.url] = self._destination(req.url)
        if isinstance(url, AttemptResult):
            return url
        await self.start()
        if isinstance(req.auth, BasicAuth):
            return await self._post(url, req, push_authorization(req.auth))
        return await self._send_with_token(url, req, req.auth)

    def _destination(self, raw: str) -> URL | AttemptResult:
        """The parsed URL, or the BLOCKED result of a URL pushes may not go to.

        Host names are checked again at each connection by the resolver; this check is for
        IP-literal hosts, which never reach a resolver."""
        try:
            url = URL(raw)
        except (TypeError, ValueError) as exc:
            return AttemptResult(ok=False, error=ErrorKind.BLOCKED, detail=f"invalid URL: {exc}")
        if url.scheme != "https" or not url.raw_host:
            detail = "refused: pushes go only to absolute https:// URLs"
            return AttemptResult(ok=False, error=ErrorKind.BLOCKED, detail=detail)
        try:
            check_ip_literal(url.raw_host, allow_private_networks=self._allow_private)
        except BlockedDestination as exc:
            return AttemptResult(ok=False, error=ErrorKind.BLOCKED, detail=str(exc))
        return url

    async def _send_with_token(self, url: URL, req: PushRequest, auth: OAuth2Auth) -> AttemptResult:
        assert self._token_client is not None
        key = (req.customer_id, req.customer_revision)
        fetch = partial(self._token_client.fetch, auth)
        try:
            token = await self.tokens.get(key, fetch)
        except TokenError as exc:
            return AttemptResult(ok=False, error=exc.kind, detail=exc.detail)
        first = await self._post(url, req, f"Bearer {token}")
        if first.status_code not in auth.renew_on:
            return first
        await self.tokens.reject(key, token)
        try:
            token = await self.tokens.get(key, fetch)
        except TokenError as exc:
            detail = f"HTTP {first.status_code} with the cached token; renewing it failed: "
            return replace(first, error=ErrorKind.AUTH, detail=detail + exc.detail)
        second = await self._post(url, req, f"Bearer {token}")
        return replace(second, token_renewed=True)

    async def _post(self, url: URL, req: PushRequest, authorization: str) -> AttemptResult:
        assert self._session is not None
        headers = {
            "Accept": "*/*",
            "Accept-Encoding": "identity",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": authorization,
            "Telepush-Delivery-Id": req.delivery_id,
            "Telepush-Attempt": str(req.attempt_number),
            "Telepush-Service": req.service,
        }
        for tries_left in (1, 0):
            answered = False
            try:
                async with self._session.post(
                    url,
                    data=_body(req.payload),
                    headers=headers,
                    allow_redirects=False,
                ) as response:
                    answered = True
                    try:
                        body = await read_capped(response, self._max_response_bytes)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        # The status line decides; the body is only shown. So a 200 whose
                        # body breaks off is still accepted (no needless duplicate).
                        result = self._answer(response, None, req.accepted_status)
                        why = f"reply body unreadable: {self._failure(exc).detail}"
                        detail = f"{result.detail}; {why}" if result.detail else why
                        return replace(result, detail=detail)
                    return self._answer(response, body, req.accepted_status)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A connection that broke before any reply, typically a kept-alive one the
                # server closed as we wrote to it: send again, once, on another connection,
                # whatever the connection's age (telling reused connections from fresh ones
                # would cost a trace hook on every request). Safe: receivers de-duplicate
                # on Telepush-Delivery-Id.
                if tries_left and not answered and _unanswered_drop(exc):
                    continue
                return self._failure(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(
        self, response: aiohttp.ClientResponse, body: bytes | None, accepted_status: str
    ) -> AttemptResult:
        status = response.status
        text = None if body is None else preview(body, self._preview_bytes)
        kind = classify_status(status, accepted_status)
        if kind is None:
            return AttemptResult(ok=True, status_code=status, response=text)
        if kind is ErrorKind.REDIRECT:
            location = response.headers.get("Location", "")
            detail = f"HTTP {status} redirect to {location or '(no Location)'}; not followed"
        elif 200 <= status < 300:
            detail = f"HTTP {status} {response.reason or ''}: only 200 means accepted"
        else:
            detail = f"HTTP {status} {response.reason or ''}".rstrip()
        return AttemptResult(
            ok=False,
            status_code=status,
            error=kind,
            detail=detail,
            response=text,
            retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _failure(self, exc: BaseException) -> AttemptResult:
        kind, detail = classify_exception(
            exc, connect_timeout_s=self._connect_timeout_s, total_timeout_s=self._total_timeout_s
        )
        return AttemptResult(ok=False, error=kind, detail=detail)


# aiohttp sends bodies over 1 MiB given as bytes in one piece (and warns about it); a BytesIO
# is written in chunks that let other deliveries run in between. A new one per send: aiohttp
# closes it after writing.
_LARGE_BODY_BYTES = 1 << 20


def _body(payload: bytes) -> bytes | io.BytesIO:
    return io.BytesIO(payload) if len(payload) > _LARGE_BODY_BYTES else payload
