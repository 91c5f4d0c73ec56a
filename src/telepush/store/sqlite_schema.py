"""The SQLite side of migrations: the bookkeeping table and running one migration's script.

Runs on the writer thread inside its ``BEGIN IMMEDIATE`` transaction, so the check of what
is applied and the applying happen under the database's write lock: a second process
migrating at the same moment waits, then finds nothing left to do.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from functools import cache

from telepush.errors import MigrationError
from telepush.store import migrations
from telepush.store.migrations import Migration

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at REAL NOT NULL
)
"""


@cache
def sqlite_migrations() -> tuple[Migration, ...]:
    return tuple(migrations.load_migrations(migrations.sql_directory("sqlite")))


def applied_names(conn: sqlite3.Connection) -> list[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return []
    return [name for (name,) in conn.execute("SELECT name FROM schema_migrations")]


def migrate(conn: sqlite3.Connection, todo: Sequence[Migration]) -> list[str]:
    conn.execute(_BOOKKEEPING)
    return migrations.run(todo, applied_names(conn), lambda m: _apply(conn, m))


def check(conn: sqlite3.Connection, todo: Sequence[Migration]) -> None:
    migrations.require_current(todo, applied_names(conn))


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    try:
        for statement in split_statements(migration.sql):
            conn.execute(statement)
    except sqlite3.Error as exc:
        raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
    conn.execute(
        "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
        (migration.name, time.time()),
    )


def split_statements(script: str) -> list[str]:
    """The statements of ``script``, one per item (``executescript`` would commit first)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    leftover = "\n".join(
        line for line in pending.splitlines() if not line.strip().startswith("--")
    ).strip()
    if leftover:
        raise MigrationError(f"a migration ends with an incomplete statement: {leftover[:80]!r}")
    return statements
