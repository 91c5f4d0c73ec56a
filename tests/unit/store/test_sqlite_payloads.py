"""PayloadReader: payloads read by seq from a SQLite store's file, read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore
from telepush.store.sqlite_payloads import PayloadGone, PayloadReader
from telepush.testing import FakeClock, make_customer_config, make_payload
from tests.support.payloads import claim_stored

BOX = SecretBox(SecretBox.generate_key())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "odd name?#%.db", BOX)  # URI characters are escaped
    await opened.open()
    await opened.migrate()
    yield opened
    await opened.close()


async def test_reads_the_exact_bytes_while_the_store_writes(store: SQLiteStore) -> None:
    """A 2 MB payload is read back byte for byte, while the store goes on writing."""
    body = make_payload("trip", itinId="big", sensors="0123456789" * 200_000)
    ref = await claim_stored(store, body)
    reader = PayloadReader(store.payload_file or "")
    try:
        assert reader.read(ref.seq) == body
        await store.put_customer("other", make_customer_config(), FakeClock().now())
        assert reader.read(ref.seq) == body
    finally:
        reader.close()


async def test_an_erased_payload_is_payload_gone(store: SQLiteStore) -> None:
    """Once erased (here: its customer deleted), reading it says so."""
    ref = await claim_stored(store, make_payload("trip"))
    await store.delete_customer("acme", FakeClock().now())
    reader = PayloadReader(store.payload_file or "")
    with pytest.raises(PayloadGone, match=f"seq {ref.seq}.* no longer in the store"):
        reader.read(ref.seq)
    reader.close()


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    """The file is opened read-only: a wrong path fails rather than creating a database."""
    path = tmp_path / "none.db"
    reader = PayloadReader(path)
    with pytest.raises(sqlite3.OperationalError):
        reader.read(1)
    assert not path.exists()


async def test_the_reader_cannot_write(store: SQLiteStore) -> None:
    """Read-only, whatever it is asked: its connection refuses writes."""
    reader = PayloadReader(store.payload_file or "")
    ref = await claim_stored(store, make_payload("trip"))
    reader.read(ref.seq)
    assert reader._conn is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._conn.execute("DELETE FROM payloads")
    reader.close()
