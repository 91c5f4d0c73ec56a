"""A migrated SQLite store in a file, opened for a test and closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore


@asynccontextmanager
async def migrated_sqlite(path: Path) -> AsyncIterator[SQLiteStore]:
    """A SQLite store at ``path`` with a fresh secret key, migrated, no customers yet."""
    store = SQLiteStore(path, SecretBox(SecretBox.generate_key()))
    await store.open()
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()
