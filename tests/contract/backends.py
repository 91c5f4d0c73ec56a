"""The store backends the contract suite runs against, and their test-only hooks.

Each ``Backend`` makes a ``Store`` on a fresh database (the same ``workdir`` means the same
database, so two stores can share one) and offers a few read-only peeks that the protocol
does not expose: the bytes at rest, a stored payload, the live and declared schemas. A new
backend (PostgreSQL) adds one entry to ``BACKENDS``; the tests do not change.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from telepush.store.base import Store
from telepush.store.migrations import sql_directory
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


async def _sqlite_payload(workdir: Path, delivery_id: str) -> bytes | None:
    with closing(sqlite3.connect(_sqlite_file(workdir))) as conn:
        row = conn.execute(
            "SELECT payload FROM deliveries WHERE delivery_id = ?", (delivery_id,)
        ).fetchone()
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

BACKENDS = [SQLITE]
