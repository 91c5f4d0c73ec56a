"""Turn what went wrong during an HTTP exchange into an ``ErrorKind`` and a short text.

A failed delivery is data: the sender stores the kind and this detail with the attempt.
"""

from __future__ import annotations

import ssl

import aiohttp

from telepush.delivery.guard import BlockedDestination
from telepush.domain.delivery import ErrorKind

_MAX_DETAIL_CHARS = 500


def _find_blocked(exc: BaseException) -> BlockedDestination | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BlockedDestination):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 1] + "…"


def classify_exception(
    exc: BaseException, *, connect_timeout_s: float, total_timeout_s: float
) -> tuple[ErrorKind, str]:
    """The error kind and a human-readable detail for an exception raised by an exchange."""
    blocked = _find_blocked(exc)
    if blocked is not None:
        return ErrorKind.BLOCKED, _text(blocked)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ErrorKind.TIMEOUT, f"no connection within {connect_timeout_s:g} s"
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and aiohttp's ServerTimeoutError
        return ErrorKind.TIMEOUT, f"no complete reply within {total_timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ErrorKind.DNS, f"DNS lookup failed: {_text(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ErrorKind.TLS, f"TLS certificate rejected: {_text(exc.certificate_error)}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | aiohttp.ServerFingerprintMismatch):
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        return ErrorKind.TLS, f"TLS handshake failed: {_text(cause)}"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, ConnectionResetError
    ):
        # A refused TCP connect is ECONNREFUSED; a reset once connected is the server
        # dropping the TLS handshake, typically over a protocol version or cipher.
        return ErrorKind.TLS, (
            f"TLS handshake with {exc.host}:{exc.port} reset by the server "
            "(it may only offer TLS older than 1.2, or ciphers this client refuses)"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT, f"cannot connect to {exc.host}:{exc.port}: {_text(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.CONNECT, "server closed the connection without a complete reply"
    if isinstance(exc, aiohttp.InvalidURL):
        return ErrorKind.BLOCKED, f"invalid URL: {_text(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return ErrorKind.CONNECT, f"invalid HTTP reply: {_text(exc)}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ErrorKind.CONNECT, f"reply body cut short: {_text(exc)}"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return ErrorKind.CONNECT, f"connection failed: {_text(exc)}"
    return ErrorKind.CONNECT, f"unexpected error: {type(exc).__name__}: {_text(exc)}"
