"""The PostgreSQL side of migrations: an advisory lock around check-and-apply.

``migrate`` takes a transaction-scoped advisory lock first, then creates the bookkeeping
table if needed, reads what is applied and applies the rest, all in one transaction (DDL is
transactional in PostgreSQL). A second process migrating at the same moment waits on the
lock, then finds nothing left to do; a migration that fails leaves nothing half-applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import psycopg

from telepush.errors import MigrationError
from telepush.store import migrations
from telepush.store.migrations import Migration
from telepush.store.postgres_conn import Conn

# Key of the advisory lock held while migrating ('telepush' in ASCII, as a bigint).
MIGRATION_LOCK = 0x74656C6570757368

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL
)
"""


@cache
def postgres_migrations() -> tuple[Migration, ...]:
    return tuple(migrations.load_migrations(migrations.sql_directory("postgres")))


async def applied_names(conn: Conn) -> list[str]:
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return []
    cur = await conn.execute("SELECT name FROM schema_migrations")
    return [name for (name,) in await cur.fetchall()]


async def migrate(conn: Conn, known: Sequence[Migration]) -> list[str]:
    """Apply what is missing; call inside a transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    await conn.execute(_BOOKKEEPING)
    todo = migrations.pending(known, await applied_names(conn))
    for migration in todo:
        await _apply(conn, migration)
    return [m.name for m in todo]


async def check(conn: Conn, known: Sequence[Migration]) -> None:
    migrations.require_current(known, await applied_names(conn))


async def _apply(conn: Conn, migration: Migration) -> None:
    try:
        # Without parameters the whole script goes as one query, every statement of it.
        await conn.execute(migration.sql)
    except psycopg.Error as exc:
        raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
    await conn.execute(
        "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, now())",
        (migration.name,),
    )
