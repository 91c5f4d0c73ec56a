"""Raw SQL against a contract test's database, for what the Store protocol does not show
(a delivery's ``manual`` flag, attempts rows, per-minute figures). Write SQL with ``?``
placeholders; PostgreSQL gets them as ``%s``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg

from tests.contract import backends
from tests.contract.backends import Backend


async def execute(
    backend: Backend, workdir: Path, sql: str, args: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run ``sql`` in its own committed transaction; the rows it returns, if any."""
    if backend.name == "sqlite":
        with closing(sqlite3.connect(workdir / "telepush.db", isolation_level=None)) as conn:
            cur = conn.execute(sql, tuple(args))
            return [tuple(row) for row in cur.fetchall()]
    url = backends.postgres_url(backends._postgres_database(workdir))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(sql.replace("?", "%s"), tuple(args))
        return [tuple(row) for row in await cur.fetchall()] if cur.description else []


async def scalar(backend: Backend, workdir: Path, sql: str, args: Sequence[Any] = ()) -> Any:
    [(value,)] = await execute(backend, workdir, sql, args)
    return value
