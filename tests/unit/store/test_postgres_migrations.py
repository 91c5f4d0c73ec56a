"""PostgreSQL migrations: step by step equals schema.sql, atomic, refused when from the future."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from telepush.errors import MigrationError
from telepush.store import postgres_schema
from telepush.store.migrations import Migration, sql_directory
from telepush.store.postgres import PostgresStore
from telepush.store.secrets import SecretBox
from telepush.testing import FakeClock, make_customer_config
from tests.contract.backends import postgres_schema_of, scratch_database

BOX = SecretBox(SecretBox.generate_key())

# A delivery as a database at 0003 holds it: the payload in the delivery row.
_OLD_ROW = """
INSERT INTO deliveries (delivery_id, customer_id, service, key, payload, status, due_at,
                        attempt_count, created_at, updated_at)
VALUES (%s, 'acme', 'trip', %s, %s, %s, %s, 0, %s, %s)
"""


@pytest.fixture
def url() -> Iterator[str]:
    with scratch_database() as database_url:
        yield database_url


async def _migrate_with(url: str, known: tuple[Migration, ...]) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        return await postgres_schema.migrate(conn, known)


def test_packaged_postgres_migrations_start_with_the_initial_schema() -> None:
    """The PostgreSQL migrations ship with the package, beginning with 0001_initial."""
    names = [m.name for m in postgres_schema.postgres_migrations()]
    assert names[0] == "0001_initial"
    assert names == sorted(names)


async def test_migrating_one_step_at_a_time_yields_the_declared_schema(url: str) -> None:
    """A database brought up one migration per run ends exactly like schema.sql."""
    known = postgres_schema.postgres_migrations()
    applied = [
        name for step in range(1, len(known) + 1) for name in await _migrate_with(url, known[:step])
    ]
    assert applied == [m.name for m in known]
    with scratch_database() as declared_url:
        script = sql_directory("postgres").joinpath("schema.sql")
        async with await psycopg.AsyncConnection.connect(declared_url, autocommit=True) as conn:
            await conn.execute(script.read_text("utf-8"))
        assert await postgres_schema_of(url) == await postgres_schema_of(declared_url)


async def test_an_old_database_gets_only_the_newer_migrations(url: str) -> None:
    """A database at 0001 is brought up to date by the store with the rest, in order."""
    known = postgres_schema.postgres_migrations()
    await _migrate_with(url, known[:1])
    store = PostgresStore(url, BOX)
    await store.open()
    try:
        with pytest.raises(MigrationError, match="run `telepush migrate`"):
            await store.check_schema()
        assert await store.migrate() == [m.name for m in known[1:]]
        await store.check_schema()
    finally:
        await store.close()


async def test_a_failing_migration_leaves_nothing_behind(url: str) -> None:
    """When one migration of a run fails, the whole run is rolled back and none is recorded."""
    broken = (
        Migration("0001_good", "CREATE TABLE good (x integer);"),
        Migration("0002_bad", "CREATE TABLE bad (x no_such_type);"),
    )
    with pytest.raises(MigrationError, match="0002_bad"):
        await _migrate_with(url, broken)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT to_regclass('good') IS NULL, to_regclass('schema_migrations') IS NULL"
        )
        assert await cur.fetchone() == (True, True)


async def test_database_migrated_by_a_newer_version_is_refused(url: str) -> None:
    """A recorded migration this version does not know stops migrate and check_schema."""
    store = PostgresStore(url, BOX)
    await store.open()
    try:
        await store.migrate()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_future', now())"
            )
        with pytest.raises(MigrationError, match="upgrade telepush"):
            await store.migrate()
        with pytest.raises(MigrationError, match="upgrade telepush"):
            await store.check_schema()
    finally:
        await store.close()


async def test_payloads_migration_keeps_queued_payloads(url: str) -> None:
    """Payloads queued before 0004_payloads are claimed intact after it; erased ones stay gone."""
    known = postgres_schema.postgres_migrations()
    await _migrate_with(url, tuple(m for m in known if m.name < "0004"))
    clock = FakeClock()
    store = PostgresStore(url, BOX)
    await store.open()
    try:
        await store.put_customer("acme", make_customer_config(), clock.now())
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            now = clock.now()
            await conn.execute(_OLD_ROW, ("kept", "T-1", b'{"kept":1}', "pending", now, now, now))
            await conn.execute(_OLD_ROW, ("gone", "T-2", None, "superseded", None, now, now))
        assert await store.migrate() == [m.name for m in known if m.name >= "0004"]
        claimed = await store.claim(
            now=clock.now(), worker_id="w", lease_s=60, per_endpoint_limit=10, limit=10
        )
        assert [(c.delivery_id, c.payload) for c in claimed] == [("kept", b'{"kept":1}')]
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute("SELECT count(*) FROM payloads")
            assert await cur.fetchone() == (1,)
    finally:
        await store.close()
