"""Reading payloads from a SQLite store's file, outside the store's own writer.

A delivery process reads the large payloads it sends itself (``StoredPayload``), so they are
not read by the claim on the writer thread and then copied through the worker and over the
socket to it. The connection is read-only and opened on first use; in WAL mode a reader
neither waits for the writer nor holds it up.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SELECT = "SELECT body FROM payloads WHERE seq = ?"


class PayloadGone(LookupError):
    """The payload is no longer in the store (erased: superseded, customer deleted)."""


class PayloadReader:
    """Reads payloads by ``seq``; one connection, used by one thread at a time."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        # A URI so the file is opened read-only and never created; as_uri() escapes the path.
        self._uri = Path(path).absolute().as_uri() + "?mode=ro"
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._conn: sqlite3.Connection | None = None

    def read(self, seq: int) -> bytes:
        """The payload of the delivery numbered ``seq``; ``PayloadGone`` if erased."""
        if self._conn is None:
            conn = sqlite3.connect(self._uri, uri=True, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._conn = conn
        row = self._conn.execute(_SELECT, (seq,)).fetchone()
        if row is None:
            raise PayloadGone(f"the payload (delivery seq {seq}) is no longer in the store")
        body: bytes = row[0]
        return body

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
