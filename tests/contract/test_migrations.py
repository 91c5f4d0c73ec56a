"""Migrations: idempotent, safe when concurrent, equal to the declared schema, checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from telepush.errors import MigrationError
from telepush.store.base import Store
from telepush.store.secrets import SecretBox
from tests.contract.backends import Backend


async def test_migrating_twice_is_harmless(store: Store) -> None:
    """A second migrate applies nothing and the schema still checks out."""
    assert await store.migrate() == []
    await store.check_schema()


async def test_fresh_migration_yields_the_declared_schema(
    store: Store, backend: Backend, workdir: Path
) -> None:
    """Migrating an empty database gives exactly the tables and indexes of schema.sql."""
    assert await backend.live_schema(workdir) == await backend.declared_schema()


async def test_unmigrated_database_fails_the_schema_check(
    backend: Backend, workdir: Path, box: SecretBox
) -> None:
    """Opening does not migrate; check_schema says to run ``telepush migrate`` until done."""
    store = backend.make(workdir, box)
    await store.open()
    try:
        with pytest.raises(MigrationError, match="run `telepush migrate`"):
            await store.check_schema()
        applied = await store.migrate()
        assert applied and applied == sorted(applied)
        await store.check_schema()
    finally:
        await store.close()


async def test_concurrent_migrations_apply_each_file_once(
    backend: Backend, workdir: Path, box: SecretBox
) -> None:
    """Two stores migrating one database at once apply every migration exactly once."""
    stores = [backend.make(workdir, box) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        results = await asyncio.gather(*(store.migrate() for store in stores))
        first, second = results
        assert first or second
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(first or second)
        for store in stores:
            await store.check_schema()
    finally:
        for store in stores:
            await store.close()
