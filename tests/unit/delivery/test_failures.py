"""Exception classification for failures that a local server cannot provoke on demand."""

from __future__ import annotations

import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from telepush.delivery.failures import classify_exception
from telepush.delivery.guard import BlockedDestination
from telepush.domain.delivery import ErrorKind

KEY = ConnectionKey("push.example.com", 443, True, True, None, None, None)


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    return classify_exception(exc, connect_timeout_s=5.0, total_timeout_s=30.0)


@pytest.mark.parametrize(
    ("exc", "kind", "fragment"),
    [
        (aiohttp.ConnectionTimeoutError("slow"), ErrorKind.TIMEOUT, "no connection within 5 s"),
        (TimeoutError(), ErrorKind.TIMEOUT, "within 30 s"),
        (aiohttp.SocketTimeoutError("read"), ErrorKind.TIMEOUT, "within 30 s"),
        (
            aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
            ErrorKind.DNS,
            "Name or service not known",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError(113, "No route to host")),
            ErrorKind.CONNECT,
            "push.example.com:443",
        ),
        (
            aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "WRONG_VERSION_NUMBER")),
            ErrorKind.TLS,
            "TLS handshake failed",
        ),
        (aiohttp.ServerDisconnectedError(), ErrorKind.CONNECT, "closed the connection"),
        (aiohttp.ClientPayloadError("cut"), ErrorKind.CONNECT, "cut short"),
        (
            BlockedDestination("a.example", "10.0.0.1", "private"),
            ErrorKind.BLOCKED,
            "10.0.0.1",
        ),
        (RuntimeError("boom"), ErrorKind.CONNECT, "RuntimeError: boom"),
    ],
)
def test_exception_kinds(exc: BaseException, kind: ErrorKind, fragment: str) -> None:
    """Each failure maps to its stored error kind with a readable detail."""
    got_kind, detail = classify(exc)
    assert got_kind is kind
    assert fragment in detail


def test_blocked_found_behind_a_wrapper() -> None:
    """A BlockedDestination wrapped by another exception is still reported as BLOCKED."""
    try:
        try:
            raise BlockedDestination("a.example", "127.0.0.1", "loopback")
        except BlockedDestination as inner:
            raise aiohttp.ClientConnectorError(KEY, OSError("wrapped")) from inner
    except aiohttp.ClientConnectorError as outer:
        kind, detail = classify(outer)
    assert kind is ErrorKind.BLOCKED
    assert "127.0.0.1" in detail


def test_detail_is_bounded() -> None:
    """A huge exception text is cut to a short detail."""
    _, detail = classify(RuntimeError("x" * 10_000))
    assert len(detail) < 600
