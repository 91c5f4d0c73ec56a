"""Durable, idempotent storage of what the receiver accepted: a SQLite file (WAL,
``synchronous=FULL``), or a PostgreSQL database named by a ``postgresql://`` URL.

Rules, one transaction per document (see ``writer``):

- a delivery id already stored, or the same natural key with the same body, is a
  *duplicate*: acknowledged, recorded in ``receipts``, not stored twice;
- ``trip`` is upserted by ``itinId``; a trip whose ``itinId`` was already deleted is
  acknowledged but discarded (deletion wins);
- ``deleted-trip`` deletes the stored trip and the crash reports linked to it
  (``info.itinId``) and records the deletion, also for a trip never received;
- ``crash`` is upserted by ``crashId``, ``crash-report`` by its report id (``info.reportId``,
  else the delivery id); a crash report linked to a deleted trip is discarded too;
- ``diagnosis`` is appended (an empty one is a heartbeat and is kept too).

Raw bodies are kept byte for byte. Every accepted request leaves a row in ``receipts``.
The same SQL runs on both databases (see ``dialect``); the schema is created at start.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from telepush.receiver import queries
from telepush.receiver.dialect import Connection, Dialect, SQLite, create_schema
from telepush.receiver.pg import PostgreSQL, is_postgres_url
from telepush.receiver.writer import GroupCommitWriter

# keyed services: table, key column
_KEYED = {"trip": ("trips", "itin_id"), "crash": ("crashes", "crash_id")}


class StorageFailure(RuntimeError):
    """A store was made to fail on purpose (control API)."""


@dataclass(frozen=True)
class Incoming:
    """One accepted push, ready to store."""

    service: str
    key: str  # natural key (crash-report: report id or delivery id)
    body: bytes
    received_at: str
    delivery_id: str | None = None
    attempt: str | None = None
    itin_id: str | None = None  # crash-report: the trip it derives from
    date: str | None = None  # deleted-trip: the provider's date
    user_id: str | None = None  # diagnosis
    event_count: int = 0  # diagnosis


@dataclass(frozen=True)
class Stored:
    """What storing did: ``stored``, ``updated``, ``deleted``, ``recorded``, ``discarded``."""

    outcome: str
    duplicate: bool = False


def dialect_for(database: str | Path) -> Dialect:
    """The database a ``ReceiverSettings.database`` value names: a PostgreSQL URL, else a
    SQLite file path."""
    if isinstance(database, str) and is_postgres_url(database):
        return PostgreSQL(database.strip())
    return SQLite(Path(database))


class Storage:
    """Write through the group-commit writer; read on a separate, lock-protected connection."""

    def __init__(self, database: str | Path) -> None:
        self.dialect = dialect_for(database)
        self._writer = GroupCommitWriter(self._connect_writer)
        self._reader: Connection | None = None
        self._read_lock = threading.Lock()
        self._fail_lock = threading.Lock()
        self._fail_next = 0

    def _connect_writer(self) -> Connection:
        conn = self.dialect.open()
        try:
            create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def open(self) -> None:
        self._writer.start()

    def close(self) -> None:
        self._writer.close()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def fail_next(self, times: int) -> None:
        """Make the next ``times`` stores fail (tests: storage failure -> 500 -> retry)."""
        with self._fail_lock:
            self._fail_next = max(0, times)

    def _consume_failure(self) -> bool:
        with self._fail_lock:
            if self._fail_next <= 0:
                return False
            self._fail_next -= 1
            return True

    async def store(self, item: Incoming) -> Stored:
        """Store ``item``; return only once committed. Raises on any storage failure."""
        return await self._writer.submit(lambda conn: self._store(conn, item))

    def _store(self, conn: Connection, item: Incoming) -> Stored:
        if self._consume_failure():
            raise StorageFailure("storage failure injected by the control API")
        sha = hashlib.sha256(item.body).hexdigest()
        result = _seen(conn, item) or _WRITERS[item.service](conn, item, sha)
        conn.execute(
            "INSERT INTO receipts (delivery_id, service, key, attempt, received_at, duplicate,"
            " outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item.delivery_id,
                item.service,
                item.key,
                item.attempt,
                item.received_at,
                int(result.duplicate),
                result.outcome,
            ),
        )
        return result

    def read(self, query: queries.Query[queries.R]) -> queries.R:
        """Run a read query (blocking: call it from a worker thread). A reader connection
        found broken is replaced and the query run once more."""
        with self._read_lock:
            if self._reader is None:
                self._writer.start()  # the writer creates the schema
                self._reader = self.dialect.open()
            try:
                return query(self._reader)
            except Exception:
                if not self._reader.broken:
                    raise
                self._reader.close()
                self._reader = None
                self._reader = self.dialect.open()
                return query(self._reader)


def _seen(conn: Connection, item: Incoming) -> Stored | None:
    if item.delivery_id is None:
        return None
    row = conn.execute(
        "SELECT outcome FROM receipts WHERE delivery_id = ? AND duplicate = 0 LIMIT 1",
        (item.delivery_id,),
    ).fetchone()
    return None if row is None else Stored("duplicate", duplicate=True)


def _keyed(conn: Connection, item: Incoming, sha: str) -> Stored:
    table, column = _KEYED[item.service]
    row = conn.execute(f"SELECT sha256 FROM {table} WHERE {column} = ?", (item.key,)).fetchone()
    if row is not None and row[0] == sha:
        return Stored("duplicate", duplicate=True)
    if item.service == "trip" and _deleted(conn, item.key):
        return Stored("discarded")
    conn.execute(
        f"INSERT INTO {table} ({column}, body, sha256, delivery_id, received_at)"
        f" VALUES (?, ?, ?, ?, ?) ON CONFLICT ({column}) DO UPDATE SET body = excluded.body,"
        " sha256 = excluded.sha256, delivery_id = excluded.delivery_id,"
        f" received_at = excluded.received_at, versions = {table}.versions + 1",
        (item.key, item.body, sha, item.delivery_id, item.received_at),
    )
    return Stored("stored" if row is None else "updated")


def _deleted(conn: Connection, itin_id: str) -> bool:
    found = conn.execute("SELECT 1 FROM deletions WHERE itin_id = ?", (itin_id,)).fetchone()
    return found is not None


def _deletion(conn: Connection, item: Incoming, sha: str) -> Stored:
    row = conn.execute("SELECT sha256 FROM deletions WHERE itin_id = ?", (item.key,)).fetchone()
    if row is not None and row[0] == sha:
        return Stored("duplicate", duplicate=True)
    removed = conn.execute("DELETE FROM trips WHERE itin_id = ?", (item.key,)).rowcount
    conn.execute("DELETE FROM crash_reports WHERE itin_id = ?", (item.key,))
    conn.execute(
        "INSERT INTO deletions (itin_id, date, body, sha256, delivery_id, received_at,"
        " trip_was_stored) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (itin_id) DO UPDATE SET"
        " date = excluded.date, body = excluded.body, sha256 = excluded.sha256,"
        " delivery_id = excluded.delivery_id, received_at = excluded.received_at,"
        " trip_was_stored = CASE WHEN excluded.trip_was_stored > deletions.trip_was_stored"
        " THEN excluded.trip_was_stored ELSE deletions.trip_was_stored END",
        (item.key, item.date, item.body, sha, item.delivery_id, item.received_at, int(removed > 0)),
    )
    return Stored("deleted" if removed else "recorded")


def _crash_report(conn: Connection, item: Incoming, sha: str) -> Stored:
    row = conn.execute(
        "SELECT sha256 FROM crash_reports WHERE report_id = ?", (item.key,)
    ).fetchone()
    if row is not None and row[0] == sha:
        return Stored("duplicate", duplicate=True)
    if item.itin_id is not None and _deleted(conn, item.itin_id):
        return Stored("discarded")
    conn.execute(
        "INSERT INTO crash_reports (report_id, itin_id, body, sha256, delivery_id, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (report_id) DO UPDATE SET"
        " itin_id = excluded.itin_id, body = excluded.body, sha256 = excluded.sha256,"
        " delivery_id = excluded.delivery_id, received_at = excluded.received_at,"
        " versions = crash_reports.versions + 1",
        (item.key, item.itin_id, item.body, sha, item.delivery_id, item.received_at),
    )
    return Stored("stored" if row is None else "updated")


def _diagnosis(conn: Connection, item: Incoming, sha: str) -> Stored:
    row = conn.execute(
        "SELECT 1 FROM diagnoses WHERE day_key = ? AND sha256 = ? LIMIT 1", (item.key, sha)
    ).fetchone()
    if row is not None:
        return Stored("duplicate", duplicate=True)
    conn.execute(
        "INSERT INTO diagnoses (user_id, day_key, event_count, body, sha256, delivery_id,"
        " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            item.user_id or "",
            item.key,
            item.event_count,
            item.body,
            sha,
            item.delivery_id,
            item.received_at,
        ),
    )
    return Stored("stored")


_WRITERS = {
    "trip": _keyed,
    "crash": _keyed,
    "deleted-trip": _deletion,
    "crash-report": _crash_report,
    "diagnosis": _diagnosis,
}
