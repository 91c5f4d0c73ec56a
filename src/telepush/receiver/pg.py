"""PostgreSQL storage for the receiver kit (psycopg 3, synchronous connections).

The shared SQL runs unchanged but for its placeholders (``?`` becomes ``%s``). Connections
are in autocommit mode, so the writer's explicit ``BEGIN`` / ``SAVEPOINT`` / ``COMMIT`` are
exactly those sent to SQLite. A write transaction first takes a transaction-scoped advisory
lock: as SQLite's ``BEGIN IMMEDIATE`` does for a file, it lets one receiver write at a time
when several share a database, so the read-then-write idempotency checks stay exact.

A connection whose server went away (restart, failover, ``pg_terminate_backend``) reports
itself ``broken``; the writer and the reader then open a new one on their next use.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from telepush.receiver.dialect import Dialect

SCHEMES = ("postgresql", "postgres")
APPLICATION_NAME = "telepush-receiver"
CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key of the receiver's write transactions (any constant will do)
WRITE_LOCK_KEY = 0x7E1E_9C5E_0000_0001


class PostgreSQL(Dialect):
    """A PostgreSQL database named by a ``postgresql://`` URL."""

    name = "postgresql"
    blob = "bytea"
    identity = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    begin = ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> psycopg.Connection[Any]:
        params: dict[str, Any] = conninfo_to_dict(self.url)
        params.setdefault("application_name", APPLICATION_NAME)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        return psycopg.connect(autocommit=True, **params)

    def in_transaction(self, raw: psycopg.Connection[Any]) -> bool:
        return raw.info.transaction_status != TransactionStatus.IDLE

    def broken(self, raw: psycopg.Connection[Any]) -> bool:
        return raw.broken or raw.closed

    def sql(self, text: str) -> str:
        return _placeholders(text)


@lru_cache(maxsize=256)
def _placeholders(text: str) -> str:
    return text.replace("%", "%%").replace("?", "%s")


def is_postgres_url(value: str) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URL."""
    scheme, found, _rest = value.strip().partition("://")
    return bool(found) and scheme.lower() in SCHEMES


def redact_url(url: str) -> str:
    """``url`` without its password (in the authority or a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = quote(parts.username or "", safe="")
            netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            hidden = [(k, "***" if k.lower() == "password" else v) for k, v in pairs]
            query = urlencode(hidden, safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return f"{url.partition('://')[0]}://***"
