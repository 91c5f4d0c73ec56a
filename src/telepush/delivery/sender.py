"""One HTTP attempt of one delivery: ``Sender.send(PushRequest) -> AttemptResult``.

The sender never raises (but for cancellation): every outcome, including a refused
destination or a failing token endpoint, is an ``AttemptResult``. It checks the destination,
gets the OAuth2 token (renewing it once on a refusal) and builds the headers; the HTTP
exchange itself is an ``HttpPoster``'s, in this process, or, with ``delivery_processes`` > 0,
in that many delivery processes (``post_pool``), which spreads the HTTP and TLS work over
more cores than one Python process can use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import TracebackType

from yarl import URL

from telepush import USER_AGENT
from telepush.delivery.auth import TokenCache, TokenClient, TokenError, push_authorization
from telepush.delivery.guard import BlockedDestination, check_ip_literal
from telepush.delivery.post import HttpPoster, PostConfig
from telepush.delivery.post_pool import PostPool
from telepush.domain.customer import BasicAuth, OAuth2Auth
from telepush.domain.delivery import AttemptResult, ErrorKind, StoredPayload


@dataclass(frozen=True)
class PushRequest:
    """Everything one attempt needs; built by the worker from a claimed delivery."""

    url: str
    service: str
    delivery_id: str
    attempt_number: int
    payload: bytes | StoredPayload = field(repr=False)  # personal data: kept out of logs
    customer_id: str
    customer_revision: int
    auth: OAuth2Auth | BasicAuth
    accepted_status: str
    # With delivery processes (``Sender.limits_endpoints``): at most this many requests to
    # the endpoint at a time, the rest waiting in the delivery process (0: no limit).
    endpoint_limit: int = 0


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
        delivery_processes: int = 0,
        payload_file: str | None = None,
    ) -> None:
        """``clock`` drives token expiry when no ``token_cache`` is given.

        ``keepalive_timeout_s`` closes idle pooled connections before common servers do
        (uvicorn and Node.js drop idle ones after 5 s), which avoids most writes onto a
        connection the server is just closing.

        ``delivery_processes`` > 0 posts from that many child processes; tokens are still
        fetched here, so they stay shared through the token cache. With a ``payload_file``
        (the SQLite store's) they read large payloads from it themselves
        (``reads_stored_payloads``).
        """
        self.config = PostConfig(
            ca_bundle=None if ca_bundle is None else str(ca_bundle),
            allow_private_networks=allow_private_networks,
            connect_timeout_s=connect_timeout_s,
            total_timeout_s=total_timeout_s,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            response_preview_bytes=response_preview_bytes,
            keepalive_timeout_s=keepalive_timeout_s,
            payload_file=payload_file,
        )
        self._local = HttpPoster(self.config)  # a bad CA bundle fails here, at start-up
        self._pool = (
            PostPool(self.config, delivery_processes, fallback=self._local)
            if delivery_processes
            else None
        )
        self.tokens = token_cache if token_cache is not None else TokenCache(clock=clock)
        self._token_client: TokenClient | None = None
        self._closed = False
        # Parsed and checked destination per URL string: a URL (may be sent to) or the
        # refusal. Customers' URLs are few; the cache is cleared if it ever grows large.
        self._destinations: dict[str, URL | AttemptResult] = {}

    @property
    def limits_endpoints(self) -> bool:
        """Whether requests may be handed over beyond the per-endpoint limit, which the
        delivery processes then keep (``PushRequest.endpoint_limit``)."""
        return self._pool is not None

    @property
    def reads_stored_payloads(self) -> bool:
        """Whether a ``StoredPayload`` may be sent: the delivery processes read it from the
        store's file (so it is not copied through this process)."""
        return self._pool is not None and self.config.payload_file is not None

    async def start(self) -> None:
        """Open the connection pool and start the delivery processes (``send`` opens the
        pool on first use too)."""
        if self._token_client is not None:
            return
        session = await self._local.start()
        self._token_client = TokenClient(
            session,
            timeout=self._local.timeout,
            allow_private_networks=self.config.allow_private_networks,
            max_reply_bytes=self.config.max_response_bytes,
            preview_bytes=self.config.response_preview_bytes,
        )
        if self._pool is not None:
            await self._pool.start()

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
        await self._local.close()

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
        """One attempt (plus one immediate re-send after an OAuth2 token renewal).

        Its duration is the HTTP exchange's, as the poster measured it (a delivery process
        does not count the wait for the endpoint's turn); an attempt that made none (a
        refused destination, a failing token endpoint) gets the time it took here."""
        started = time.perf_counter()
        try:
            result = await self._send(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a net under _send, which maps the expected failures
            result = self._local.failure(exc)
        if result.duration_ms:
            return result
        return result.took(round((time.perf_counter() - started) * 1000))

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
            allowed = self.config.allow_private_networks
            check_ip_literal(url.raw_host, allow_private_networks=allowed)
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
        if self._pool is not None:
            return await self._pool.post(
                str(url),
                req.payload,
                headers,
                req.accepted_status,
                lane=(req.customer_id, req.service),
                limit=req.endpoint_limit,
            )
        return await self._local.post(url, req.payload, headers, req.accepted_status)
