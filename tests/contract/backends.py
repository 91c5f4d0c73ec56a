"""The store backends the contract suite runs against, and their test-only hooks.

Each ``Backend`` makes a ``Store`` on a fresh database (the same ``workdir`` means the same
database, so two stores can share one) and offers a few read-only peeks that the protocol
does not expose: the bytes at rest, a stored payload, the live and declared schemas. A new
backend adds one entry to ``BACKENDS``; the tests do not change.

PostgreSQL runs on the server named by ``TELEPUSH_TEST_POSTGRES_URL`` (default: the local
``test`` database, user ``postgres``), in a scratch database per ``workdir`` that is dropped
when the test ends. When the server cannot be reached its tests are skipped, except when the
``CI`` environment variable is set: then they fail, so CI never passes without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from telepush.store.base import Store
from telepush.store.migrations import sql_directory
from telepush.store.postgres import PostgresStore
from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore

Schema = dict[str, object]


@dataclass(frozen=True)
class Backend:
    name: str
    make: Callable[[Path, SecretBox], Store]
    raw_contents: Callable[[Path], Awaitable[bytes]]  # everything at rest, as bytes
    stored_payload: Callable[[Path, str], Awaitable[bytes | None]]
    live_schema: Callable[[Path], Awaitable[Schema]]
    declared_schema: Callable[[], Awaitable[Schema]]
    ready: Callable[[], None] = lambda: None  # skips (or fails) when the backend is missing
    cleanup: Callable[[Path], None] = lambda workdir: None  # after the test, for ``workdir``


# ---- sqlite ----------------------------------------------------------------------------


def _sqlite_file(workdir: Path) -> Path:
    return workdir / "telepush.db"


def _sqlite_make(workdir: Path, box: SecretBox) -> Store:
    return SQLiteStore(_sqlite_file(workdir), box)


def _read_sqlite_files(workdir: Path) -> bytes:
    files = sorted(workdir.glob(_sqlite_file(workdir).name + "*"))  # .db, -wal, -shm
    return b"".join(path.read_bytes() for path in files)


async def _sqlite_raw(workdir: Path) -> bytes:
    return await asyncio.to_thread(_read_sqlite_files, workdir)


# The delivery must exist; its payload is None once erased (no payloads row).
_STORED_PAYLOAD = """
SELECT p.body FROM deliveries AS d LEFT JOIN payloads AS p ON p.seq = d.seq
WHERE d.delivery_id = ?
"""


async def _sqlite_payload(workdir: Path, delivery_id: str) -> bytes | None:
    with closing(sqlite3.connect(_sqlite_file(workdir))) as conn:
        row = conn.execute(_STORED_PAYLOAD, (delivery_id,)).fetchone()
    assert row is not None, f"no delivery {delivery_id}"
    payload: bytes | None = row[0]
    return payload


def sqlite_schema_of(conn: sqlite3.Connection) -> Schema:
    """Tables with their columns, keys and foreign keys; indexes with their definitions."""
    schema: Schema = {}
    objects = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    for kind, name, table, sql in objects:
        if kind == "table":
            schema[f"table {name}"] = (
                conn.execute(f"PRAGMA table_xinfo('{name}')").fetchall(),
                conn.execute(f"PRAGMA foreign_key_list('{name}')").fetchall(),
            )
        elif kind == "index":
            definition = None if sql is None else re.sub(r"\s+", " ", sql).replace("( ", "(")
            columns = conn.execute(f"PRAGMA index_xinfo('{name}')").fetchall()
            schema[f"index {name}"] = (table, definition, columns)
        else:
            schema[f"{kind} {name}"] = re.sub(r"\s+", " ", sql or "")
    return schema


async def _sqlite_live_schema(workdir: Path) -> Schema:
    with closing(sqlite3.connect(_sqlite_file(workdir))) as conn:
        return sqlite_schema_of(conn)


async def _sqlite_declared_schema() -> Schema:
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(sql_directory("sqlite").joinpath("schema.sql").read_text("utf-8"))
        return sqlite_schema_of(conn)


SQLITE = Backend(
    name="sqlite",
    make=_sqlite_make,
    raw_contents=_sqlite_raw,
    stored_payload=_sqlite_payload,
    live_schema=_sqlite_live_schema,
    declared_schema=_sqlite_declared_schema,
)


# ---- postgres --------------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "TELEPUSH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

_databases: dict[Path, str] = {}  # workdir -> its scratch database


@cache
def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}"
    return None


def postgres_ready() -> None:
    """Skip when PostgreSQL is unreachable; under CI (``CI`` set), fail instead."""
    reason = _postgres_unreachable()
    if reason is None:
        return
    if "CI" in os.environ:
        pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run)")
    pytest.skip(reason)


def postgres_url(database: str) -> str:
    """``POSTGRES_URL`` pointed at ``database`` of the same server."""
    params = conninfo_to_dict(POSTGRES_URL)
    params["dbname"] = database
    return make_conninfo("", **params)


def create_database() -> str:
    """A new, empty scratch database; its name."""
    name = f"telepush_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )


@contextmanager
def scratch_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards (skips when PostgreSQL is away)."""
    postgres_ready()
    name = create_database()
    try:
        yield postgres_url(name)
    finally:
        drop_database(name)


def _postgres_database(workdir: Path) -> str:
    if workdir not in _databases:
        _databases[workdir] = create_database()
    return _databases[workdir]


def _postgres_make(workdir: Path, box: SecretBox) -> Store:
    return PostgresStore(postgres_url(_postgres_database(workdir)), box, max_size=4)


def _postgres_cleanup(workdir: Path) -> None:
    name = _databases.pop(workdir, None)
    if name is not None:
        drop_database(name)


async def _postgres_raw(workdir: Path) -> bytes:
    """Every row of every table, in COPY's binary format (bytea and text as their bytes)."""
    url = postgres_url(_postgres_database(workdir))
    chunks: list[bytes] = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        for (table,) in await cur.fetchall():
            query = pgsql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)").format(
                pgsql.Identifier(table)
            )
            async with conn.cursor() as copy_cur, copy_cur.copy(query) as copy:
                async for data in copy:
                    chunks.append(bytes(data))
    return b"".join(chunks)


async def _postgres_payload(workdir: Path, delivery_id: str) -> bytes | None:
    url = postgres_url(_postgres_database(workdir))
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(_STORED_PAYLOAD.replace("?", "%s"), (delivery_id,))
        row = await cur.fetchone()
    assert row is not None, f"no delivery {delivery_id}"
    return None if row[0] is None else bytes(row[0])


# Columns by position among the live ones: a dropped column keeps its attnum slot in
# PostgreSQL, so a migrated table and one created afresh differ only there.
_PG_COLUMNS = """
SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
       format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY c.relname, a.attnum
"""

_PG_CONSTRAINTS = """
SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint AS k
JOIN pg_class AS c ON c.oid = k.conrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname, k.conname
"""

_PG_INDEXES = """
SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'
ORDER BY indexname
"""

_PG_SEQUENCES = """
SELECT sequencename, data_type::text FROM pg_sequences WHERE schemaname = 'public'
ORDER BY sequencename
"""


async def postgres_schema_of(url: str) -> Schema:
    """Tables with their columns (types, nullability, defaults) and constraints; indexes with
    their definitions; sequences with their types."""
    schema: Schema = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        columns: dict[str, list[Any]] = {}
        for table, *column in await (await conn.execute(_PG_COLUMNS)).fetchall():
            columns.setdefault(table, []).append(tuple(column))
        constraints: dict[str, list[Any]] = {}
        for table, *constraint in await (await conn.execute(_PG_CONSTRAINTS)).fetchall():
            constraints.setdefault(table, []).append(tuple(constraint))
        for table in columns:
            schema[f"table {table}"] = (columns[table], constraints.get(table, []))
        for name, table, definition in await (await conn.execute(_PG_INDEXES)).fetchall():
            schema[f"index {name}"] = (table, definition)
        for name, data_type in await (await conn.execute(_PG_SEQUENCES)).fetchall():
            schema[f"sequence {name}"] = data_type
    return schema


async def _postgres_live_schema(workdir: Path) -> Schema:
    return await postgres_schema_of(postgres_url(_postgres_database(workdir)))


async def _postgres_declared_schema() -> Schema:
    name = await asyncio.to_thread(create_database)
    try:
        url = postgres_url(name)
        script = sql_directory("postgres").joinpath("schema.sql").read_text("utf-8")
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(script)
        return await postgres_schema_of(url)
    finally:
        await asyncio.to_thread(drop_database, name)


POSTGRES = Backend(
    name="postgres",
    make=_postgres_make,
    raw_contents=_postgres_raw,
    stored_payload=_postgres_payload,
    live_schema=_postgres_live_schema,
    declared_schema=_postgres_declared_schema,
    ready=postgres_ready,
    cleanup=_postgres_cleanup,
)

BACKENDS = [SQLITE, POSTGRES]
