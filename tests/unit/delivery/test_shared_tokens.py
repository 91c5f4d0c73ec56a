"""OAuth2 tokens shared between processes through the store (a real SQLite file)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telepush.delivery.auth import TokenCache, TokenReply
from telepush.delivery.shared_tokens import SharedTokens
from telepush.store.sqlite import SQLiteStore
from telepush.testing import make_customer_config
from tests.support.stores import migrated_sqlite

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clocks:
    """A wall clock and a monotonic clock that move together."""

    def __init__(self) -> None:
        self.elapsed_s = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.elapsed_s)

    def mono(self) -> float:
        return self.elapsed_s


class Endpoint:
    """A token endpoint stand-in that counts fetches and issues numbered tokens."""

    def __init__(self, expires_in_s: float = 3600) -> None:
        self.fetches = 0
        self.expires_in_s = expires_in_s

    async def fetch(self) -> TokenReply:
        self.fetches += 1
        return TokenReply(f"token-{self.fetches}", self.expires_in_s)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with migrated_sqlite(tmp_path / "t.db") as s:
        await s.put_customer("acme", make_customer_config(), T0)
        yield s


def process(store: SQLiteStore, clocks: Clocks, seed: int) -> TokenCache:
    """One worker process's cache, sharing ``store``."""
    shared = SharedTokens(store, margin_s=30, rng=random.Random(seed))
    return TokenCache(clock=clocks.mono, shared=shared, wall_clock=clocks.wall)


KEY = ("acme", 1)


async def test_second_process_uses_the_first_ones_token(store: SQLiteStore) -> None:
    """Three processes need a token: one fetch; the others read it from the store."""
    clocks, endpoint = Clocks(), Endpoint()
    caches = [process(store, clocks, seed) for seed in range(3)]
    tokens = [await cache.get(KEY, endpoint.fetch) for cache in caches]
    assert tokens == ["token-1"] * 3
    assert endpoint.fetches == 1


async def test_token_is_stored_encrypted(store: SQLiteStore) -> None:
    """The shared token is not in the database file in clear."""
    clocks, endpoint = Clocks(), Endpoint()
    endpoint_token = await process(store, clocks, 0).get(KEY, endpoint.fetch)
    await store.close()
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("t.db*"))
    await store.open()
    assert endpoint_token.encode() not in raw


async def test_expiry_renews_once_across_processes(store: SQLiteStore) -> None:
    """Near expiry the first process to renew stores the new token; the others use it."""
    clocks, endpoint = Clocks(), Endpoint(expires_in_s=600)
    caches = [process(store, clocks, seed) for seed in range(3)]
    for cache in caches:
        await cache.get(KEY, endpoint.fetch)
    clocks.elapsed_s = 590  # past every process's renewal moment (30-60 s before expiry)
    renewed = [await cache.get(KEY, endpoint.fetch) for cache in caches]
    assert renewed == ["token-2"] * 3
    assert endpoint.fetches == 2


async def test_refused_token_is_renewed_once_for_all(store: SQLiteStore) -> None:
    """Two processes see the same token refused: one renewal, both use the new token."""
    clocks, endpoint = Clocks(), Endpoint()
    a, b = process(store, clocks, 1), process(store, clocks, 2)
    old = await a.get(KEY, endpoint.fetch)
    assert await b.get(KEY, endpoint.fetch) == old
    await a.reject(KEY, old)
    new = await a.get(KEY, endpoint.fetch)
    await b.reject(KEY, old)  # b saw the refusal late: must not drop a's new token
    assert await b.get(KEY, endpoint.fetch) == new != old
    assert endpoint.fetches == 2


async def test_store_failure_falls_back_to_fetching(store: SQLiteStore) -> None:
    """A store that cannot be read does not fail the delivery: the token is fetched."""
    clocks, endpoint = Clocks(), Endpoint()
    cache = process(store, clocks, 0)
    await store.close()
    assert await cache.get(KEY, endpoint.fetch) == "token-1"
    await store.open()
