"""Push authentication: HTTP Basic, and OAuth2 client credentials with a shared token cache.

OAuth2 (SPEC §3): the client id and secret go to the token endpoint as HTTP Basic auth on a
form-encoded ``grant_type=client_credentials`` POST (never in the body), with the customer's
extra ``headers`` and query ``params``. The bearer token is cached per customer configuration
(``(customer_id, customer_revision)``), shared by all its services, fetched once however many
pushes need it at the same moment, and renewed a little before it expires.

Secrets never appear in a ``TokenError``, in a log or in a stored detail.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from telepush.delivery.failures import classify_exception
from telepush.delivery.guard import BlockedDestination, check_ip_literal
from telepush.delivery.reply import preview, read_capped
from telepush.delivery.shared_tokens import SharedTokens, utcnow
from telepush.domain.customer import BasicAuth, OAuth2Auth
from telepush.domain.delivery import ErrorKind
from telepush.metrics import observe_token_fetch

TokenKey = tuple[str, int]
"""``(customer_id, customer_revision)``: a configuration change gets a fresh token."""

DEFAULT_EXPIRES_IN_S = 3600.0  # when the token reply has no expires_in
MAX_EXPIRES_IN_S = 86400.0  # a token is fetched again at least daily
RENEW_MARGIN_S = 30.0
_FORM_BODY = b"grant_type=client_credentials"


def basic_authorization(username: str, password: str) -> str:
    """``Basic base64(username:password)``, UTF-8 encoded."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def push_authorization(auth: BasicAuth) -> str:
    return basic_authorization(auth.username, auth.password.get_secret_value())


class TokenError(Exception):
    """The token endpoint could not give a token; ``detail`` is safe to store and show.

    ``kind`` is ``AUTH``, or ``BLOCKED`` when the token endpoint is a refused destination
    (no retry can fix that, so the delivery fails at once)."""

    def __init__(self, detail: str, kind: ErrorKind = ErrorKind.AUTH) -> None:
        super().__init__(detail)
        self.detail = detail
        self.kind = kind


@dataclass(frozen=True)
class TokenReply:
    access_token: str
    expires_in_s: float


def renew_after_s(expires_in_s: float, margin_s: float = RENEW_MARGIN_S) -> float:
    """How long a token is used: ``margin_s`` before expiry, or half its life if short."""
    return max(expires_in_s - margin_s, expires_in_s / 2)


@dataclass(frozen=True)
class _Cached:
    value: str
    renew_at: float  # on the cache's clock


class TokenCache:
    """Bearer tokens per customer configuration, fetched once for concurrent callers.

    ``clock`` is a monotonic function in seconds; tests pass a fake one to expire tokens.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        renew_margin_s: float = RENEW_MARGIN_S,
        shared: SharedTokens | None = None,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clock = clock
        self._renew_margin_s = renew_margin_s
        self._shared = shared
        self._wall = wall_clock
        self._tokens: dict[TokenKey, _Cached] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}
        self._fetches: dict[TokenKey, int] = {}  # fetches started, per key
        self._failures: dict[TokenKey, tuple[int, TokenError]] = {}  # fetch number, error

    def _valid(self, key: TokenKey) -> str | None:
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.renew_at:
            return cached.value
        return None

    async def get(self, key: TokenKey, fetch: Callable[[], Awaitable[TokenReply]]) -> str:
        """A valid token for ``key``, calling ``fetch`` only when none is cached.

        Callers that wait while another fetch for the same key runs share its outcome: its
        token, or its ``TokenError``. So N concurrent callers cause one token request.
        """
        token = self._valid(key)
        if token is not None:
            return token
        lock = self._locks.setdefault(key, asyncio.Lock())
        # The first fetch whose outcome this call may share: the one running now, if any.
        shares_from = self._fetches.get(key, 0) + (0 if lock.locked() else 1)
        async with lock:
            token = self._valid(key)
            if token is not None:
                return token
            failure = self._failures.get(key)
            if failure is not None and failure[0] >= shares_from:
                # failed while we waited: do not hammer it
                raise TokenError(failure[1].detail, failure[1].kind)
            if self._shared is not None:
                found = await self._shared.lookup(*key, self._wall())
                if found is not None:  # another process fetched it
                    self._store(key, _Cached(found[0], self._clock() + found[1]))
                    return found[0]
            number = self._fetches[key] = self._fetches.get(key, 0) + 1
            started, wall_started = self._clock(), self._wall()
            try:
                reply = await fetch()
            except TokenError as exc:
                self._failures[key] = (number, exc)
                observe_token_fetch(key[0], ok=False)
                raise
            observe_token_fetch(key[0], ok=True)
            self._failures.pop(key, None)
            renew_at = started + renew_after_s(reply.expires_in_s, self._renew_margin_s)
            self._store(key, _Cached(reply.access_token, renew_at))
            if self._shared is not None:
                expires_at = wall_started + timedelta(seconds=reply.expires_in_s)
                await self._shared.save(*key, reply.access_token, expires_at)
            return reply.access_token

    def _store(self, key: TokenKey, cached: _Cached) -> None:
        """Keep ``cached``, forgetting older revisions of the same customer."""
        customer_id, revision = key
        for old in [k for k in self._locks if k[0] == customer_id and k[1] < revision]:
            self._tokens.pop(old, None)
            self._failures.pop(old, None)
            if not self._locks[old].locked():
                del self._locks[old]
                self._fetches.pop(old, None)
        self._tokens[key] = cached

    def invalidate(self, key: TokenKey, token_value: str) -> bool:
        """Drop the cached token if it is still ``token_value``; True when dropped.

        Many pushes refused with the same old token thus cause one renewal, not many.
        """
        cached = self._tokens.get(key)
        if cached is not None and cached.value == token_value:
            del self._tokens[key]
            return True
        return False

    async def reject(self, key: TokenKey, token_value: str) -> None:
        """The endpoint refused ``token_value``: forget it here and in the shared store."""
        self.invalidate(key, token_value)
        if self._shared is not None:
            await self._shared.drop(*key, token_value)

    def clear(self) -> None:
        self._tokens.clear()
        self._failures.clear()


class TokenClient:
    """Makes the token request of SPEC §3 over the sender's session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: aiohttp.ClientTimeout,
        allow_private_networks: bool,
        max_reply_bytes: int,
        preview_bytes: int,
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._allow_private = allow_private_networks
        self._max_reply_bytes = max_reply_bytes
        self._preview_bytes = preview_bytes

    async def fetch(self, auth: OAuth2Auth) -> TokenReply:
        """One token request; every failure becomes a ``TokenError``."""
        url = URL(auth.url)
        where = f"token endpoint {url.with_query(None).with_fragment(None)}"
        secret = auth.client_secret.get_secret_value()
        try:
            status, body = await self._post(url, auth, secret)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind, detail = classify_exception(
                exc,
                connect_timeout_s=self._timeout.sock_connect or 0,
                total_timeout_s=self._timeout.total or 0,
            )
            blocked = kind is ErrorKind.BLOCKED
            raise TokenError(
                f"{where}: {_scrub(detail, secret)}",
                ErrorKind.BLOCKED if blocked else ErrorKind.AUTH,
            ) from None
        shown = _scrub(preview(body, self._preview_bytes), secret)
        if status != 200:
            raise TokenError(f"{where} answered HTTP {status}: {shown!r}")
        return _parse_reply(body, where, shown)

    async def _post(self, url: URL, auth: OAuth2Auth, secret: str) -> tuple[int, bytes]:
        if url.scheme != "https" or not url.raw_host:
            raise BlockedDestination(str(url), str(url), "not https", "not an https:// URL")
        check_ip_literal(url.raw_host, allow_private_networks=self._allow_private)
        target = url.extend_query(auth.params) if auth.params else url
        headers: CIMultiDict[str] = CIMultiDict(auth.headers)
        headers["Authorization"] = basic_authorization(auth.client_id, secret)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers.setdefault("Accept", "application/json")
        headers.setdefault("Accept-Encoding", "identity")  # replies are not decompressed
        async with self._session.post(
            target,
            data=_FORM_BODY,
            headers=headers,
            allow_redirects=False,
            timeout=self._timeout,
        ) as response:
            return response.status, await read_capped(response, self._max_reply_bytes)


def _parse_reply(body: bytes, where: str, shown: str) -> TokenReply:
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise TokenError(f"{where} answered 200 but not JSON: {shown!r}") from None
    if not isinstance(data, dict):
        raise TokenError(f"{where} answered 200 but not a JSON object: {shown!r}")
    token = data.get("access_token")
    if not isinstance(token, str) or not token or not token.isprintable():
        raise TokenError(f"{where} answered 200 without a usable access_token: {shown!r}")
    return TokenReply(token, _expires_in_s(data.get("expires_in")))


def _expires_in_s(value: object) -> float:
    """``expires_in`` as seconds, within [0, a day]; absent or unreadable means an hour."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_EXPIRES_IN_S
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return DEFAULT_EXPIRES_IN_S
    return min(max(0.0, float(value)), MAX_EXPIRES_IN_S)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
