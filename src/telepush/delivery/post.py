"""The HTTP exchange of one attempt: POST a body with given headers, read the reply.

``HttpPoster.post(url, payload, headers, accepted_status) -> AttemptResult`` never raises
(but for cancellation). It knows nothing of customers or tokens: ``Sender`` builds the
headers, and posts either through its own ``HttpPoster`` or through delivery processes
(``post_pool``), each of which runs an ``HttpPoster`` of the same configuration.

A payload is bytes, or a ``StoredPayload`` that the poster reads from the configured
``payload_file`` first (a SQLite store's file): so a large payload is read by the process
that sends it, not copied through the worker.
"""

from __future__ import annotations

import asyncio
import errno
import io
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import aiohttp
from yarl import URL

from telepush import USER_AGENT
from telepush.delivery.failures import classify_exception
from telepush.delivery.guard import GuardedResolver
from telepush.delivery.reply import parse_retry_after, preview, read_capped
from telepush.delivery.tls import client_ssl_context
from telepush.domain.delivery import AttemptResult, ErrorKind, StoredPayload, classify_status
from telepush.store.sqlite_payloads import PayloadReader


@dataclass(frozen=True)
class PostConfig:
    """How requests are made; the same in this process and in every delivery process."""

    ca_bundle: str | None = None
    allow_private_networks: bool = False
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 30.0
    max_connections: int = 512
    max_response_bytes: int = 65536
    response_preview_bytes: int = 1024
    # Idle pooled connections are closed before common servers do (uvicorn and Node.js drop
    # idle ones after 5 s), which avoids most writes onto a connection being closed.
    keepalive_timeout_s: float = 4.0
    # The SQLite file a ``StoredPayload`` is read from (None: only bytes are posted).
    payload_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Poster(Protocol):
    """What a delivery process needs of an ``HttpPoster`` (a unit test's fake has it too)."""

    async def post(
        self,
        url: URL | str,
        payload: bytes | StoredPayload,
        headers: dict[str, str],
        accepted_status: str,
    ) -> AttemptResult: ...

    def failure(self, exc: BaseException) -> AttemptResult:
        """The failed result an exception out of ``post`` stands for."""
        ...


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


class HttpPoster:
    """One aiohttp session for the poster's life, so connections are kept alive and reused."""

    def __init__(self, config: PostConfig) -> None:
        self.config = config
        self._ssl = client_ssl_context(config.ca_bundle)  # a bad bundle fails here, at start-up
        # sock_connect bounds TCP connect + TLS handshake per address; total bounds the
        # whole exchange (pool wait, DNS, connect, request, reply). ``connect`` is left
        # unset so waiting for a free pool slot is not reported as the customer's fault.
        self.timeout = aiohttp.ClientTimeout(
            total=config.total_timeout_s, sock_connect=config.connect_timeout_s
        )
        self.session: aiohttp.ClientSession | None = None
        # Parsed URL per URL string (a delivery process is handed strings).
        self._urls: dict[str, URL] = {}
        self._payloads = PayloadReader(config.payload_file) if config.payload_file else None

    async def start(self) -> aiohttp.ClientSession:
        """Open the connection pool (``post`` does it on first use too)."""
        if self.session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl,
                limit=self.config.max_connections,
                resolver=GuardedResolver(allow_private_networks=self.config.allow_private_networks),
                keepalive_timeout=self.config.keepalive_timeout_s,
            )
            self.session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                headers={"User-Agent": USER_AGENT},
                # No skip_auto_headers: aiohttp builds a header set per request for it. Each
                # request says "Accept-Encoding: identity" instead (replies not decompressed).
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookies carried between customers
                trust_env=False,  # no proxy from the environment
            )
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self._payloads is not None:
            self._payloads.close()

    async def post(
        self,
        url: URL | str,
        payload: bytes | StoredPayload,
        headers: dict[str, str],
        accepted_status: str,
    ) -> AttemptResult:
        """The exchange's result, with its duration in whole ms rounded up (so at least 1):
        from the request's start to the reply read, not counting any wait before it (nor
        reading a stored payload)."""
        if isinstance(payload, StoredPayload):
            try:
                payload = self._read(payload)
            except Exception as exc:
                detail = f"the payload could not be read from the store: {exc}"
                return AttemptResult(ok=False, error=ErrorKind.CONNECT, detail=detail).took(1)
        started = time.perf_counter()
        try:
            result = await self._post(url, payload, headers, accepted_status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a net under _post, which maps the expected failures
            result = self.failure(exc)
        return result.took(math.ceil((time.perf_counter() - started) * 1000))

    def _read(self, stored: StoredPayload) -> bytes:
        """On the loop: about 0.25 ms per MB from the page cache. On a thread it was slower
        (1 MB trips: 0.52 of the bare client's MB/s against 0.80), each read then waiting
        for the GIL behind the busy loop."""
        if self._payloads is None:
            raise RuntimeError("no payload_file is configured to read it from")
        return self._payloads.read(stored.seq)

    async def _post(
        self, url: URL | str, payload: bytes, headers: dict[str, str], accepted_status: str
    ) -> AttemptResult:
        session = self.session or await self.start()
        if isinstance(url, str):
            parsed = self._urls.get(url)
            if parsed is None:
                if len(self._urls) >= 4096:
                    self._urls.clear()
                parsed = self._urls[url] = URL(url)
            url = parsed
        for tries_left in (1, 0):
            answered = False
            try:
                async with session.post(
                    url, data=_body(payload), headers=headers, allow_redirects=False
                ) as response:
                    answered = True
                    try:
                        body = await read_capped(response, self.config.max_response_bytes)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        # The status line decides; the body is only shown. So a 200 whose
                        # body breaks off is still accepted (no needless duplicate).
                        result = self._answer(response, None, accepted_status)
                        why = f"reply body unreadable: {self.failure(exc).detail}"
                        detail = f"{result.detail}; {why}" if result.detail else why
                        return replace(result, detail=detail)
                    return self._answer(response, body, accepted_status)
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
                return self.failure(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(
        self, response: aiohttp.ClientResponse, body: bytes | None, accepted_status: str
    ) -> AttemptResult:
        status = response.status
        text = None if body is None else preview(body, self.config.response_preview_bytes)
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

    def failure(self, exc: BaseException) -> AttemptResult:
        kind, detail = classify_exception(
            exc,
            connect_timeout_s=self.config.connect_timeout_s,
            total_timeout_s=self.config.total_timeout_s,
        )
        return AttemptResult(ok=False, error=kind, detail=detail)


# aiohttp sends bodies over 1 MiB given as bytes in one piece (and warns about it); a BytesIO
# is written in chunks that let other deliveries run in between. A new one per send: aiohttp
# closes it after writing.
_LARGE_BODY_BYTES = 1 << 20


def _body(payload: bytes) -> bytes | io.BytesIO:
    return io.BytesIO(payload) if len(payload) > _LARGE_BODY_BYTES else payload
