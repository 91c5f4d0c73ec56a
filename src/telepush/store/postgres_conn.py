"""Connections of the PostgreSQL store: one pool, transactions, and errors as ``StoreError``.

Connections are in autocommit mode; every unit of work opens an explicit transaction. A
connection is checked (an empty query) before each use, so after the server restarts (or a
connection is killed) a dead connection is replaced instead of failing the caller; a
statement that fails on a connection dropped under it raises ``StoreError`` at once, and
read-only work is retried once on a fresh connection. A caller never waits longer than
``acquire_timeout_s`` for a connection: when the server is down it gets ``StoreError``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from telepush.errors import StoreError

T = TypeVar("T")
RECONNECT_TIMEOUT_S = 2.0  # a failing reconnection is dropped (and begun afresh) this soon
ASK_EVERY_S = 1.0

Conn = psycopg.AsyncConnection[Any]


def aware(at: datetime) -> datetime:
    """``at`` itself when it is aware; a naive datetime is a programming error."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected an aware UTC datetime, got naive {at!r}")
    return at


def lost_connection(exc: BaseException) -> bool:
    """True when ``exc`` (a ``StoreError``) came from a connection that broke or vanished."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.OperationalError) and not isinstance(
        cause, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable | PoolTimeout
    )


def data_error(exc: BaseException) -> bool:
    """True when ``exc`` (a ``StoreError``) is the database refusing the data (a key clash)."""
    return isinstance(exc.__cause__, psycopg.IntegrityError | psycopg.DataError)


class Connections:
    """The pool of one store, and its units of work."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int,
        max_size: int,
        acquire_timeout_s: float,
        connect_timeout_s: float,
        name: str,
    ) -> None:
        params = conninfo_to_dict(url)
        params.setdefault("application_name", "telepush")
        params.setdefault("connect_timeout", max(1, round(connect_timeout_s)))
        self._conninfo = make_conninfo("", **params)
        self._min_size = min_size
        self._max_size = max_size
        self._acquire_timeout_s = acquire_timeout_s
        self._name = name
        self._pool: AsyncConnectionPool[Conn] | None = None

    @property
    def database(self) -> str:
        return str(conninfo_to_dict(self._conninfo).get("dbname", ""))

    async def open(self) -> None:
        """Open the pool and make sure the server answers; ``StoreError`` when it does not."""
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            kwargs={"autocommit": True},
            configure=_configure,
            timeout=self._acquire_timeout_s,
            reconnect_timeout=RECONNECT_TIMEOUT_S,
            name=self._name,
        )
        try:
            await pool.open(wait=True, timeout=self._acquire_timeout_s)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A connection of the pool, outside any transaction; errors become ``StoreError``."""
        if self._pool is None:
            raise StoreError("the store is not open")
        pool = self._pool
        try:
            conn = await self._checked_out(pool)
            try:
                yield conn
            finally:
                await pool.putconn(conn)  # rolls back what is left open; drops it if broken
        except PoolTimeout as exc:
            raise StoreError(
                f"no PostgreSQL connection within {self._acquire_timeout_s:g} s: {exc}"
            ) from exc
        except PoolClosed as exc:
            raise StoreError("the store is not open") from exc
        except psycopg.Error as exc:
            raise StoreError(f"database error: {_first_line(exc)}") from exc

    async def _checked_out(self, pool: AsyncConnectionPool[Conn]) -> Conn:
        """A pool connection that answered an empty query just now.

        After a server restart every idle connection is dead: each fails its check at once
        and is handed back (the pool replaces it), until a live or new one comes out."""
        deadline = time.monotonic() + self._acquire_timeout_s
        for _ in range(self._max_size + 1):
            conn = await _getconn(pool, deadline)
            try:
                await conn.execute("")
            except psycopg.OperationalError:
                await pool.putconn(conn)
                continue
            return conn
        raise StoreError("every PostgreSQL connection failed its check; is the server up?")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A connection inside one transaction, committed when the block ends without error."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def write(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction. Not retried: the commit may have happened."""
        async with self.transaction() as conn:
            return await work(conn)

    async def read(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run read-only ``work`` in one transaction, once more if the connection broke."""
        try:
            return await self.write(work)
        except StoreError as exc:
            if not lost_connection(exc):
                raise
        return await self.write(work)


async def _getconn(pool: AsyncConnectionPool[Conn], deadline: float) -> Conn:
    """A connection by ``deadline``, asking again every ``ASK_EVERY_S``: each new request
    lets the pool start a fresh connection attempt instead of waiting out its backoff."""
    while True:
        left = deadline - time.monotonic()
        try:
            return await pool.getconn(timeout=max(0.01, min(ASK_EVERY_S, left)))
        except PoolTimeout:
            if left <= ASK_EVERY_S:
                raise


async def _configure(conn: Conn) -> None:
    """Session settings of every new connection: times come back in UTC."""
    await conn.execute("SET TIME ZONE 'UTC'")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
