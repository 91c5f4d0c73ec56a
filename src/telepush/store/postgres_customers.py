"""Customer rows of the PostgreSQL store, and the OAuth2 tokens shared through it.

A customer is stored as its public configuration (camelCase JSON, as ``CustomerConfig.public``
gives it) plus one encrypted token holding its secret fields; ``endpoints`` mirrors which of
its services exist and are enabled, for ``claim``, and keeps each one's health (pause
state, failure streak): replacing a customer keeps those of the services that remain.
Secrets arrive here already encrypted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from telepush.store.postgres_conn import Conn


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    config: dict[str, Any]
    secret: bytes
    revision: int
    created_at: datetime
    updated_at: datetime


_COLUMNS = "customer_id, config_json, secret, revision, created_at, updated_at"

# The revision counts replacements: 1 on creation, so revision 1 means "created now".
_UPSERT = f"""
INSERT INTO customers AS c ({_COLUMNS}) VALUES (%s, %s, %b, 1, %s, %s)
ON CONFLICT (customer_id) DO UPDATE
SET config_json = excluded.config_json, secret = excluded.secret,
    revision = c.revision + 1, updated_at = excluded.updated_at
RETURNING {_COLUMNS}
"""

# Services no longer configured go; those that remain keep their pause state and streak.
_DROP_ENDPOINTS = """
DELETE FROM endpoints WHERE customer_id = %s AND NOT (service = ANY(%s::text[]))
"""

_UPSERT_ENDPOINT = """
INSERT INTO endpoints (customer_id, service, enabled) VALUES (%s, %s, %s)
ON CONFLICT (customer_id, service) DO UPDATE SET enabled = excluded.enabled
"""

_FAIL_UNFINISHED = """
UPDATE deliveries SET status = 'failed', due_at = NULL, lease_owner = NULL, updated_at = %s
WHERE customer_id = %s AND status IN ('pending', 'sending')
"""

_ERASE_PAYLOADS = """
DELETE FROM payloads AS p USING deliveries AS d
WHERE p.seq = d.seq AND d.customer_id = %s
"""


async def put_customer(
    conn: Conn,
    customer_id: str,
    config: dict[str, Any],
    secret: bytes,
    endpoints: Sequence[tuple[str, bool]],
    now: datetime,
) -> tuple[CustomerRow, bool]:
    """Create or replace; returns (row, created). Call inside a transaction."""
    cur = await conn.execute(_UPSERT, (customer_id, Jsonb(config), secret, now, now))
    row = CustomerRow(*_one(await cur.fetchone()))
    services = [service for service, _ in endpoints]
    await conn.execute(_DROP_ENDPOINTS, (customer_id, services))
    async with conn.cursor() as cur:
        await cur.executemany(
            _UPSERT_ENDPOINT,
            [(customer_id, service, enabled) for service, enabled in sorted(endpoints)],
        )
    return row, row.revision == 1


async def get_customer(conn: Conn, customer_id: str) -> CustomerRow | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM customers WHERE customer_id = %s", (customer_id,)
    )
    row = await cur.fetchone()
    return None if row is None else CustomerRow(*row)


async def list_customers(conn: Conn) -> list[CustomerRow]:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM customers ORDER BY customer_id")
    return [CustomerRow(*row) for row in await cur.fetchall()]


async def delete_customer(conn: Conn, customer_id: str, now: datetime) -> bool:
    """Drop the row (its endpoints and token go with it), fail its unfinished deliveries and
    erase every payload of it. Call inside a transaction."""
    cur = await conn.execute("DELETE FROM customers WHERE customer_id = %s", (customer_id,))
    if cur.rowcount == 0:
        return False
    await conn.execute(_FAIL_UNFINISHED, (now, customer_id))
    await conn.execute(_ERASE_PAYLOADS, (customer_id,))
    return True


# ---- OAuth2 tokens -----------------------------------------------------------------------

# Kept only while the customer exists at the revision the token was fetched for.
_PUT_TOKEN = """
INSERT INTO oauth_tokens (customer_id, revision, token_ciphertext, expires_at, fetched_by)
SELECT customer_id, revision, %b, %s, %s FROM customers WHERE customer_id = %s AND revision = %s
ON CONFLICT (customer_id) DO UPDATE
SET revision = excluded.revision, token_ciphertext = excluded.token_ciphertext,
    expires_at = excluded.expires_at, fetched_by = excluded.fetched_by
"""

_GET_TOKEN = """
SELECT token_ciphertext, expires_at FROM oauth_tokens
WHERE customer_id = %s AND revision = %s AND expires_at > %s
"""

_DROP_TOKEN = """
DELETE FROM oauth_tokens WHERE customer_id = %s AND revision = %s AND token_ciphertext = %b
"""


async def put_token(
    conn: Conn,
    customer_id: str,
    revision: int,
    ciphertext: bytes,
    expires_at: datetime,
    fetched_by: str,
) -> None:
    await conn.execute(_PUT_TOKEN, (ciphertext, expires_at, fetched_by, customer_id, revision))


async def get_token(
    conn: Conn, customer_id: str, revision: int, now: datetime
) -> tuple[bytes, datetime] | None:
    cur = await conn.execute(_GET_TOKEN, (customer_id, revision, now))
    row = await cur.fetchone()
    return None if row is None else (bytes(row[0]), row[1])


async def token_ciphertexts(conn: Conn, customer_id: str, revision: int) -> list[bytes]:
    """The stored ciphertext of the customer's token at ``revision`` (none or one)."""
    cur = await conn.execute(
        "SELECT token_ciphertext FROM oauth_tokens WHERE customer_id = %s AND revision = %s",
        (customer_id, revision),
    )
    return [bytes(row[0]) for row in await cur.fetchall()]


async def drop_token(conn: Conn, customer_id: str, revision: int, ciphertext: bytes) -> None:
    """Delete the token only if it is still exactly ``ciphertext`` (compare and delete)."""
    await conn.execute(_DROP_TOKEN, (customer_id, revision, ciphertext))


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if row is None:
        raise AssertionError("the statement returns one row")
    return row
