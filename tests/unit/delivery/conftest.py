"""Fixtures: a real local HTTPS server on 127.0.0.1, a sender that trusts its CA, and a
migrated SQLite store in a temporary file."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telepush.delivery import Sender
from telepush.store.sqlite import SQLiteStore
from tests.support.certs import CertFiles
from tests.support.stores import migrated_sqlite
from tests.unit.delivery.helpers import HttpsServer, ServerFactory, TokenEndpoint


@pytest.fixture
async def make_server(certs: CertFiles) -> AsyncIterator[ServerFactory]:
    """Start HTTPS servers (the test certificate unless a context is given); stop them after."""
    servers: list[HttpsServer] = []

    async def make(ssl_context: ssl.SSLContext | None = None) -> HttpsServer:
        server = HttpsServer(ssl_context or certs.server_context())
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> HttpsServer:
    """A local HTTPS server with the test certificate, a token endpoint at /token."""
    return await make_server()


@pytest.fixture
def tokens(server: HttpsServer) -> TokenEndpoint:
    """The token endpoint served at ``server.url('/token')``."""
    return server.tokens


@pytest.fixture
async def sender(certs: CertFiles) -> AsyncIterator[Sender]:
    """A sender trusting the test CA, allowed to reach 127.0.0.1."""
    async with Sender(
        ca_bundle=certs.ca_pem, allow_private_networks=True, total_timeout_s=5.0
    ) as s:
        yield s


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A migrated SQLite store (no customers yet)."""
    async with migrated_sqlite(tmp_path / "q.db") as opened:
        yield opened
