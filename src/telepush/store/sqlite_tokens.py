"""OAuth2 tokens shared through the SQLite file. Runs on the writer thread.

One row per customer: the token fetched for one revision of the customer, encrypted with the
``SecretBox`` before it reaches the thread, and its expiry. A token is stored only while the
customer exists at that revision, and goes with the customer (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import sqlite3

_PUT = """
INSERT INTO oauth_tokens (customer_id, revision, token_ciphertext, expires_at, fetched_by)
SELECT customer_id, revision, ?, ?, ? FROM customers WHERE customer_id = ? AND revision = ?
ON CONFLICT (customer_id) DO UPDATE
SET revision = excluded.revision, token_ciphertext = excluded.token_ciphertext,
    expires_at = excluded.expires_at, fetched_by = excluded.fetched_by
"""

_GET = """
SELECT token_ciphertext, expires_at FROM oauth_tokens
WHERE customer_id = ? AND revision = ? AND expires_at > ?
"""


def put_token(
    conn: sqlite3.Connection,
    customer_id: str,
    revision: int,
    ciphertext: bytes,
    expires_s: float,
    fetched_by: str,
) -> None:
    conn.execute(_PUT, (ciphertext, expires_s, fetched_by, customer_id, revision))


def get_token(
    conn: sqlite3.Connection, customer_id: str, revision: int, now_s: float
) -> tuple[bytes, float] | None:
    row = conn.execute(_GET, (customer_id, revision, now_s)).fetchone()
    return None if row is None else (row[0], row[1])


def token_ciphertexts(conn: sqlite3.Connection, customer_id: str, revision: int) -> list[bytes]:
    """The stored ciphertext of the customer's token at ``revision`` (none or one)."""
    rows = conn.execute(
        "SELECT token_ciphertext FROM oauth_tokens WHERE customer_id = ? AND revision = ?",
        (customer_id, revision),
    ).fetchall()
    return [row[0] for row in rows]


def drop_token(
    conn: sqlite3.Connection, customer_id: str, revision: int, ciphertext: bytes
) -> None:
    """Delete the token only if it is still exactly ``ciphertext`` (compare and delete)."""
    conn.execute(
        "DELETE FROM oauth_tokens WHERE customer_id = ? AND revision = ? AND token_ciphertext = ?",
        (customer_id, revision, ciphertext),
    )
