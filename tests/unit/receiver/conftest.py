"""Fixtures: a real receiver over HTTPS on 127.0.0.1 (background thread), an aiohttp client,
and the databases a receiver stores in (a SQLite file; a scratch PostgreSQL database)."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from telepush.receiver import ReceiverSettings, ReceiverThread
from tests.support import pg
from tests.support.certs import CertFiles

CLIENT_ID = "acme-client"
CLIENT_SECRET = "s3cret-Value/with+odd=chars"
USERNAME = "pusher"
PASSWORD = "basic-pa55word"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """A thin client of one receiver."""

    def __init__(self, session: aiohttp.ClientSession, server: ReceiverThread) -> None:
        self.session = session
        self.server = server
        self.url = server.url
        self.settings = server.settings

    async def request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        if json_body is not None:
            data = json.dumps(json_body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        payload: Any = data
        if isinstance(data, bytes) and len(data) > 512 * 1024:
            payload = io.BytesIO(data)  # aiohttp warns on large raw bytes bodies
        async with self.session.request(
            method, self.url + path, data=payload, headers=headers
        ) as response:
            body = await response.read()
            return Reply(response.status, dict(response.headers), body)

    async def token_reply(
        self,
        auth: str | None = None,
        form: str = "grant_type=client_credentials",
        content_type: str = "application/x-www-form-urlencoded",
    ) -> Reply:
        headers = {"Content-Type": content_type}
        headers["Authorization"] = auth or basic(CLIENT_ID, CLIENT_SECRET)
        return await self.request("POST", self.settings.token_path, data=form, headers=headers)

    async def token(self) -> str:
        reply = await self.token_reply()
        assert reply.status == 200, reply.body
        return str(reply.json()["access_token"])

    async def bearer(self) -> str:
        return "Bearer " + await self.token()

    async def push(
        self,
        service: str,
        body: bytes,
        auth: str | None,
        *,
        delivery_id: str | None = None,
        attempt: int = 1,
        extra: dict[str, str] | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/json", "Telepush-Service": service}
        headers["Telepush-Attempt"] = str(attempt)
        if delivery_id is not None:
            headers["Telepush-Delivery-Id"] = delivery_id
        if auth is not None:
            headers["Authorization"] = auth
        headers.update(extra or {})
        path = self.settings.push_paths[service]
        return await self.request("POST", path, data=body, headers=headers)

    async def get(self, path: str, auth: str | None) -> Reply:
        return await self.request("GET", path, headers={"Authorization": auth} if auth else None)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        reply = await self.request(method, "/_control" + path, json_body=body)
        assert reply.status == 200, reply.body
        return reply.json()


StartReceiver = Callable[..., ReceiverThread]


@pytest.fixture
def start_receiver(tmp_path: Path, certs: CertFiles) -> Iterator[StartReceiver]:
    """Start receivers (oauth2, control on, unless overridden); all stopped afterwards."""
    started: list[ReceiverThread] = []

    def start(**overrides: Any) -> ReceiverThread:
        values: dict[str, Any] = {
            "database": str(tmp_path / f"receiver-{len(started)}.db"),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "enable_control": True,
        }
        values.update(overrides)
        server = ReceiverThread(
            ReceiverSettings(**values), certfile=certs.cert_pem, keyfile=certs.key_pem
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def session(certs: CertFiles) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=str(certs.ca_pem))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as client:
        yield client


@pytest.fixture
def api_for(session: aiohttp.ClientSession) -> Callable[[ReceiverThread], Api]:
    return lambda server: Api(session, server)


@pytest.fixture
def api(start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]) -> Api:
    """A client of a default receiver (oauth2, reject 401, control API on)."""
    return api_for(start_receiver())


Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Database:
    """A database a receiver stores in, seen from a connection of its own."""

    name: str
    target: str  # ReceiverSettings.database
    peek: Callable[[str, tuple[Any, ...]], Rows]
    error: type[Exception]  # what its driver raises

    def rows(self, sql: str, *args: Any) -> Rows:
        """The rows of ``sql`` (``?`` placeholders), read on a new connection."""
        return self.peek(sql, args)


def _sqlite_rows(path: Path) -> Callable[[str, tuple[Any, ...]], Rows]:
    def peek(sql: str, args: tuple[Any, ...]) -> Rows:
        with closing(sqlite3.connect(path)) as conn:
            return conn.execute(sql, args).fetchall()

    return peek


def _postgres_rows(url: str) -> Callable[[str, tuple[Any, ...]], Rows]:
    def peek(sql: str, args: tuple[Any, ...]) -> Rows:
        return pg.query(url, sql.replace("?", "%s"), args)

    return peek


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (``receiver_test_*``), dropped afterwards.

    Skips when the server is unreachable, unless ``CI`` is set: then it fails."""
    pg.require_server()
    name = pg.create_database(pg.POSTGRES_URL, prefix="receiver_test")
    try:
        yield pg.database_url(pg.POSTGRES_URL, name)
    finally:
        pg.drop_database(pg.POSTGRES_URL, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """Each database the receiver can store in, in turn."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return Database("postgresql", url, _postgres_rows(url), psycopg.Error)
    path = tmp_path / "receiver.db"
    return Database("sqlite", str(path), _sqlite_rows(path), sqlite3.Error)


@pytest.fixture
def database_api(
    database: Database, start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> Api:
    """A client of a receiver storing in ``database`` (each database in turn)."""
    return api_for(start_receiver(database=database.target))
