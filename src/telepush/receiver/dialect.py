"""The SQL the receiver shares between SQLite and PostgreSQL, and the little that differs.

Queries are written once, with ``?`` placeholders and ``INSERT … ON CONFLICT (key) DO
UPDATE`` upserts (both databases speak them); a ``Dialect`` knows how to connect, how to
start a write transaction, and the few spellings that differ: placeholders (``?`` or
``%s``), binary columns (``BLOB`` or ``bytea``) and generated ids (``AUTOINCREMENT`` or an
identity column). Every connection runs in autocommit mode: transactions are explicit
(``BEGIN`` … ``COMMIT``), the same statements on both.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS trips (
    itin_id TEXT PRIMARY KEY, body {blob} NOT NULL, sha256 TEXT NOT NULL,
    delivery_id TEXT, received_at TEXT NOT NULL, versions INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS deletions (
    itin_id TEXT PRIMARY KEY, date TEXT, body {blob} NOT NULL, sha256 TEXT NOT NULL,
    delivery_id TEXT, received_at TEXT NOT NULL, trip_was_stored INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS crashes (
    crash_id TEXT PRIMARY KEY, body {blob} NOT NULL, sha256 TEXT NOT NULL,
    delivery_id TEXT, received_at TEXT NOT NULL, versions INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS crash_reports (
    report_id TEXT PRIMARY KEY, itin_id TEXT, body {blob} NOT NULL, sha256 TEXT NOT NULL,
    delivery_id TEXT, received_at TEXT NOT NULL, versions INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS crash_reports_itin ON crash_reports (itin_id);
CREATE TABLE IF NOT EXISTS diagnoses (
    id {identity}, user_id TEXT NOT NULL, day_key TEXT NOT NULL,
    event_count INTEGER NOT NULL, body {blob} NOT NULL, sha256 TEXT NOT NULL,
    delivery_id TEXT, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS diagnoses_user ON diagnoses (user_id, id);
CREATE INDEX IF NOT EXISTS diagnoses_key ON diagnoses (day_key, sha256);
CREATE TABLE IF NOT EXISTS receipts (
    id {identity}, delivery_id TEXT, service TEXT NOT NULL,
    key TEXT NOT NULL, attempt TEXT, received_at TEXT NOT NULL,
    duplicate INTEGER NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS receipts_delivery ON receipts (delivery_id) WHERE duplicate = 0;
CREATE INDEX IF NOT EXISTS receipts_service ON receipts (service, id);
"""


class Cursor(Protocol):
    """What the receiver uses of a DB-API cursor (``sqlite3`` and ``psycopg`` alike)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Dialect(ABC):
    """One database the receiver can store in: how to connect, and how it spells SQL."""

    name: str
    blob: str
    identity: str
    begin: tuple[str, ...]  # starts a write transaction, one writer at a time

    @abstractmethod
    def connect(self) -> Any:
        """A new driver connection in autocommit mode."""

    @abstractmethod
    def in_transaction(self, raw: Any) -> bool: ...

    def broken(self, raw: Any) -> bool:
        """Whether ``raw`` lost its server (it must be replaced, not reused)."""
        return False

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` placeholders) as this database wants it."""
        return text

    def schema(self) -> list[str]:
        """The ``CREATE … IF NOT EXISTS`` statements, in this database's spelling."""
        script = SCHEMA.format(blob=self.blob, identity=self.identity)
        return [statement.strip() for statement in script.split(";") if statement.strip()]

    def open(self) -> Connection:
        return Connection(self.connect(), self)


class Connection:
    """A driver connection that speaks the shared SQL (``?`` placeholders)."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor: Cursor = self.raw.execute(self.dialect.sql(sql), tuple(params))
        return cursor

    def begin(self) -> None:
        for statement in self.dialect.begin:
            self.raw.execute(statement)

    @property
    def in_transaction(self) -> bool:
        return self.dialect.in_transaction(self.raw)

    @property
    def broken(self) -> bool:
        return self.dialect.broken(self.raw)

    def close(self) -> None:
        self.raw.close()


def create_schema(conn: Connection) -> None:
    """Create what is missing, in one write transaction (safe when receivers start together)."""
    conn.begin()
    try:
        for statement in conn.dialect.schema():
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction and not conn.broken:
            conn.execute("ROLLBACK")
        raise


class SQLite(Dialect):
    """A SQLite file: WAL journal, ``synchronous=FULL``, writers serialized by the file lock."""

    name = "sqlite"
    blob = "BLOB"
    identity = "INTEGER PRIMARY KEY AUTOINCREMENT"
    begin = ("BEGIN IMMEDIATE",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        return connect_sqlite(self.path)

    def in_transaction(self, raw: sqlite3.Connection) -> bool:
        return raw.in_transaction


def connect_sqlite(path: Path) -> sqlite3.Connection:
    """A connection with the durability settings of the receiver (autocommit mode)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn
