"""Sender: the delivery contract of SPEC §3 against a real local HTTPS server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiohttp import web

from telepush import USER_AGENT
from telepush.delivery import Sender
from telepush.delivery.reply import parse_retry_after
from telepush.domain.delivery import ErrorKind
from tests.support.certs import CertFiles
from tests.unit.delivery.helpers import HttpsServer, basic, push


async def test_headers_and_exact_body_arrive(sender: Sender, server: HttpsServer) -> None:
    """The POST carries the contract's headers and the payload bytes unchanged."""
    payload = b'{"itinId": "T-9",  "name": "Z\xc3\xbc", "n": 1.50}\n'
    result = await sender.send(
        push(
            server.url(),
            basic("alice", "pw"),
            payload=payload,
            delivery_id="dlv-42",
            attempt_number=3,
            service="crash",
        )
    )
    assert result.ok and result.status_code == 200
    [seen] = server.requests("/push")
    assert seen.method == "POST"
    assert seen.body == payload
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == USER_AGENT
    assert seen.headers["Telepush-Delivery-Id"] == "dlv-42"
    assert seen.headers["Telepush-Attempt"] == "3"
    assert seen.headers["Telepush-Service"] == "crash"
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:pw").decode()
    assert "Cookie" not in seen.headers


async def test_large_trip_arrives_byte_exact(sender: Sender, server: HttpsServer) -> None:
    """A 3 MB trip is sent whole and unchanged (in chunks, without aiohttp's large-body warning)."""
    payload = b'{"itinId": "big", "route": {"latitude": [' + b"48.8566," * 400_000 + b"1]}}"
    result = await sender.send(push(server.url(), basic("alice", "pw"), payload=payload))
    assert result.ok
    [seen] = server.requests("/push")
    assert seen.body == payload
    assert seen.headers["Content-Length"] == str(len(payload))


async def test_basic_auth_header_encodes_utf8_credentials(
    sender: Sender, server: HttpsServer
) -> None:
    """Basic auth sends base64 of the UTF-8 'username:password' (a ':' in the password is kept)."""
    await sender.send(push(server.url(), basic("bob", "pa:ss-wörd")))
    [seen] = server.requests("/push")
    expected = base64.b64encode("bob:pa:ss-wörd".encode()).decode()
    assert seen.headers["Authorization"] == f"Basic {expected}"


async def test_200_is_ok_with_response_preview(sender: Sender, server: HttpsServer) -> None:
    """A 200 is a success; the reply's first bytes and the duration are recorded."""
    result = await sender.send(push(server.url()))
    assert result.ok
    assert result.error is None
    assert result.response == "ok"
    assert result.duration_ms >= 0
    assert result.retry_after_s is None


async def test_201_fails_by_default_and_is_ok_under_2xx(
    sender: Sender, server: HttpsServer
) -> None:
    """Only 200 is acceptance by default; 201 passes when the customer opted in to 2xx."""

    async def created(request: web.Request) -> web.Response:
        return web.Response(status=201, text="created")

    server.handlers["/push"] = created
    strict = await sender.send(push(server.url()))
    lenient = await sender.send(push(server.url(), accepted_status="2xx"))
    assert not strict.ok
    assert strict.error is ErrorKind.HTTP_STATUS
    assert strict.status_code == 201
    assert strict.detail is not None and "only 200" in strict.detail
    assert lenient.ok and lenient.status_code == 201


async def test_redirect_is_a_failure_and_not_followed(sender: Sender, server: HttpsServer) -> None:
    """A 302 is a REDIRECT failure; the Location is never requested."""

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": server.url("/elsewhere")})

    server.handlers["/push"] = moved
    result = await sender.send(push(server.url()))
    assert not result.ok
    assert result.error is ErrorKind.REDIRECT
    assert result.status_code == 302
    assert result.detail is not None and "/elsewhere" in result.detail
    assert server.requests("/elsewhere") == []


async def test_500_with_preview_and_retry_after(sender: Sender, server: HttpsServer) -> None:
    """A 500 is HTTP_STATUS with the reply's text and the Retry-After delay."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="database down", headers={"Retry-After": "120"})

    server.handlers["/push"] = broken
    result = await sender.send(push(server.url()))
    assert not result.ok
    assert result.error is ErrorKind.HTTP_STATUS
    assert result.status_code == 500
    assert result.response == "database down"
    assert result.retry_after_s == 120.0
    assert result.detail == "HTTP 500 Internal Server Error"


async def test_retry_after_http_date_is_parsed(sender: Sender, server: HttpsServer) -> None:
    """A Retry-After HTTP-date becomes a number of seconds from now."""

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})

    server.handlers["/push"] = busy
    result = await sender.send(push(server.url()))
    assert result.error is ErrorKind.HTTP_STATUS
    assert result.retry_after_s is not None and result.retry_after_s > 365 * 86400


def test_parse_retry_after_forms() -> None:
    """Retry-After parsing: seconds, dates (past gives 0), garbage and absence give None."""
    now = datetime(2025, 1, 30, 7, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Thu, 30 Jan 2025 07:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Thu, 30 Jan 2025 06:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-5", now=now) is None
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None


async def test_large_reply_is_capped(certs: CertFiles, server: HttpsServer) -> None:
    """A 1 MiB reply is recorded as its first preview bytes only."""

    async def huge(request: web.Request) -> web.Response:
        return web.Response(status=500, body=b"x" * (1024 * 1024))

    server.handlers["/push"] = huge
    async with Sender(
        ca_bundle=certs.ca_pem, allow_private_networks=True, response_preview_bytes=100
    ) as sender:
        result = await sender.send(push(server.url()))
    assert result.status_code == 500
    assert result.response == "x" * 100


async def test_endless_reply_is_not_read_to_the_end(certs: CertFiles, server: HttpsServer) -> None:
    """A reply that never ends still gives a prompt result: at most max_response_bytes is read."""

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500)
        await response.prepare(request)
        chunk = b"y" * 16384
        while not server.release.is_set():
            await response.write(chunk)
        return response

    server.handlers["/push"] = endless
    async with Sender(
        ca_bundle=certs.ca_pem,
        allow_private_networks=True,
        total_timeout_s=10.0,
        max_response_bytes=65536,
    ) as sender:
        result = await asyncio.wait_for(sender.send(push(server.url())), 5.0)
    assert result.error is ErrorKind.HTTP_STATUS
    assert result.response == "y" * 1024


async def test_slow_endpoint_times_out(certs: CertFiles, server: HttpsServer) -> None:
    """No reply within total_timeout_s is a TIMEOUT."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.wait_for(server.release.wait(), 10.0)
        return web.Response(text="late")

    server.handlers["/push"] = slow
    async with Sender(
        ca_bundle=certs.ca_pem, allow_private_networks=True, total_timeout_s=0.3
    ) as sender:
        result = await sender.send(push(server.url()))
    assert not result.ok
    assert result.error is ErrorKind.TIMEOUT
    assert result.status_code is None
    assert 250 <= result.duration_ms < 3000


async def test_connection_refused_is_connect(sender: Sender) -> None:
    """Nothing listening on the port is a CONNECT failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await sender.send(push(f"https://127.0.0.1:{port}/push"))
    assert not result.ok
    assert result.error is ErrorKind.CONNECT
    assert result.detail is not None and f"127.0.0.1:{port}" in result.detail


async def test_plain_http_url_is_blocked(sender: Sender, server: HttpsServer) -> None:
    """An http:// URL is refused before any connection (BLOCKED)."""
    result = await sender.send(push(f"http://127.0.0.1:{server.port}/push"))
    assert result.error is ErrorKind.BLOCKED
    assert result.detail is not None and "https://" in result.detail
    assert server.seen == []


async def test_connections_are_kept_alive(sender: Sender, server: HttpsServer) -> None:
    """Sequential pushes to one host reuse one TLS connection."""
    for n in range(10):
        result = await sender.send(push(server.url(), delivery_id=f"d-{n}"))
        assert result.ok
    assert len({seen.peer for seen in server.seen}) == 1
    assert len(server.seen) == 10


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_tls_server(certs: CertFiles, serve: Handler) -> AsyncIterator[int]:
    """An HTTPS server on 127.0.0.1 speaking raw bytes through ``serve``; yields its port."""
    tcp = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=certs.server_context())
    try:
        yield tcp.sockets[0].getsockname()[1]
    finally:
        tcp.close()
        await tcp.wait_closed()


@pytest.fixture
async def drop_second_request(certs: CertFiles) -> AsyncIterator[tuple[int, list[str]]]:
    """A raw HTTPS server that answers one request per connection, then closes on the next.

    This is a keep-alive connection the server dropped just as the client reused it.
    """
    log: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                log.append("dropped" if served else "answered")
                if served:
                    break
                served += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async with raw_tls_server(certs, serve) as port:
        yield port, log


async def test_stale_kept_alive_connection_is_retried_once(
    sender: Sender, drop_second_request: tuple[int, list[str]]
) -> None:
    """A reused connection closed by the server without a reply does not fail the attempt."""
    port, log = drop_second_request
    first = await sender.send(push(f"https://127.0.0.1:{port}/push"))
    second = await sender.send(push(f"https://127.0.0.1:{port}/push", delivery_id="d-2"))
    assert first.ok and second.ok
    assert log == ["answered", "dropped", "answered"]


async def test_a_server_that_always_drops_is_tried_twice_then_failed(certs: CertFiles) -> None:
    """An endpoint that closes every connection without a reply: one attempt sends at most
    twice (the retry is for a stale connection, not a loop) and fails as a connection error."""
    received = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            await reader.readuntil(b"\r\n\r\n")
            received += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async with (
        raw_tls_server(certs, serve) as port,
        Sender(ca_bundle=certs.ca_pem, allow_private_networks=True) as sender,
    ):
        result = await sender.send(push(f"https://127.0.0.1:{port}/push"))
    assert not result.ok and result.status_code is None
    assert result.error is ErrorKind.CONNECT, result
    assert received == 2


async def test_server_closing_idle_connections_is_harmless(certs: CertFiles) -> None:
    """When the server closes idle keep-alive connections, the next push opens a new one."""
    server_ctx = certs.server_context()
    app = web.Application()
    count = 0

    async def ok(request: web.Request) -> web.Response:
        nonlocal count
        count += 1
        return web.Response(text="ok")

    app.router.add_post("/push", ok)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with Sender(ca_bundle=certs.ca_pem, allow_private_networks=True) as sender:
            results = []
            for _ in range(3):
                results.append(await sender.send(push(f"https://127.0.0.1:{port}/push")))
                await asyncio.sleep(0.3)
    finally:
        await runner.cleanup()
    assert [r.ok for r in results] == [True, True, True]
    assert count == 3


async def test_send_after_close_returns_a_result(certs: CertFiles, server: HttpsServer) -> None:
    """A closed sender answers with a failed result instead of raising."""
    sender = Sender(ca_bundle=certs.ca_pem, allow_private_networks=True)
    await sender.start()
    await sender.close()
    result = await sender.send(push(server.url()))
    assert not result.ok and result.error is ErrorKind.CONNECT
    assert server.seen == []


async def test_200_whose_body_breaks_off_is_still_accepted(
    sender: Sender, server: HttpsServer
) -> None:
    """The status line decides: a 200 whose body is cut short is accepted, the break noted."""

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"partial")
        assert request.transport is not None
        request.transport.close()
        return response

    server.handlers["/push"] = cut
    result = await sender.send(push(server.url()))
    assert result.ok and result.status_code == 200
    assert result.response is None
    assert result.detail is not None and "reply body unreadable" in result.detail
