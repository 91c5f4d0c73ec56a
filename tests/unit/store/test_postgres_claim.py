"""PostgreSQL claims across processes: limits hold cluster-wide, and queries use the index."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import psycopg
import pytest

from telepush.domain.delivery import Claimed
from telepush.store import postgres_claim
from telepush.store.postgres import PostgresStore
from telepush.store.secrets import SecretBox
from telepush.testing import FakeClock, make_customer_config, new_delivery
from tests.contract.backends import scratch_database

BOX = SecretBox(SecretBox.generate_key())

# 60,000 rows over 30 customers x 4 services, in every status, due in the past and future.
_FILL = """
INSERT INTO deliveries (delivery_id, customer_id, service, key, status, due_at,
                        attempt_count, created_at, updated_at)
SELECT 'd-' || g, 'c' || (g %% 30),
       (ARRAY['trip', 'crash', 'deleted-trip', 'diagnosis'])[1 + g %% 4], 'k' || g,
       (ARRAY['pending', 'pending', 'delivered', 'sending', 'failed'])[1 + (g / 7) %% 5],
       %s + ((g %% 1000) - 500) * interval '1 second', 0, %s, %s
FROM generate_series(1, 60000) AS g
"""

_FILL_PAYLOADS = "INSERT INTO payloads (seq, body) SELECT seq, '\\x7b7d' FROM deliveries"


@pytest.fixture
def url() -> Iterator[str]:
    with scratch_database() as database_url:
        yield database_url


@pytest.fixture
async def stores(url: str) -> AsyncIterator[list[PostgresStore]]:
    """Four stores on one database, as four worker processes would be."""
    opened = [PostgresStore(url, BOX, max_size=3) for _ in range(4)]
    for store in opened:
        await store.open()
    await opened[0].migrate()
    yield opened
    for store in opened:
        await store.close()


async def test_concurrent_claimers_never_exceed_the_per_endpoint_limit(
    stores: list[PostgresStore],
) -> None:
    """Twenty claims racing from four stores lease exactly the limit of each endpoint."""
    clock = FakeClock()
    await stores[0].put_customer("acme", make_customer_config(), clock.now())
    for service in ("trip", "crash"):
        await stores[0].enqueue(
            [new_delivery("acme", service, created_at=clock.now()) for _ in range(100)]
        )

    async def claim(store: PostgresStore, worker: int) -> list[Claimed]:
        return await store.claim(
            now=clock.now(), worker_id=f"w{worker}", lease_s=60, per_endpoint_limit=7, limit=50
        )

    rounds = await asyncio.gather(
        *(claim(stores[i % 4], i) for i in range(20)), *(claim(stores[0], 99) for _ in range(3))
    )
    claimed = [c for got in rounds for c in got]
    assert len({c.delivery_id for c in claimed}) == len(claimed)
    assert Counter(c.service for c in claimed) == {"trip": 7, "crash": 7}


async def test_claim_skips_an_endpoint_another_claimer_holds(
    stores: list[PostgresStore], url: str
) -> None:
    """While another transaction holds an endpoint's claim lock, claims pass it by, not wait."""
    clock = FakeClock()
    await stores[0].put_customer("acme", make_customer_config(), clock.now())
    await stores[0].enqueue(
        [new_delivery("acme", s, created_at=clock.now()) for s in ("trip", "crash")]
    )
    async with await psycopg.AsyncConnection.connect(url) as other:
        await other.execute(postgres_claim.LOCK, {"customer_id": "acme", "service": "trip"})
        async with asyncio.timeout(5):
            claimed = await stores[1].claim(
                now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=5, limit=10
            )
        assert [c.service for c in claimed] == ["crash"]
        await other.rollback()
    [trip] = await stores[1].claim(
        now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=5, limit=10
    )
    assert trip.service == "trip"


async def test_claim_queries_use_the_queue_index(stores: list[PostgresStore], url: str) -> None:
    """On a 60,000-row queue, every claim query reads deliveries through its indexes only."""
    clock = FakeClock()
    now = clock.now()
    for n in range(30):
        await stores[0].put_customer(f"c{n}", make_customer_config(), now)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(_FILL, (now, now, now))
        await conn.execute(_FILL_PAYLOADS)
        await conn.execute("ANALYZE")
        params = {
            "now": now,
            "until": now + timedelta(seconds=60),
            "worker_id": "w1",
            "customer_id": "c7",
            "service": "deleted-trip",
            "count": 10,
        }
        queries = {
            "endpoints": postgres_claim.ENDPOINTS,
            "live leases": postgres_claim.LIVE_LEASES,
            "lease": postgres_claim.LEASE,
            "next due": postgres_claim.NEXT_DUE,
        }
        for name, query in queries.items():
            cur = await conn.execute("EXPLAIN " + query, params if "%(" in query else None)
            plan = "\n".join(row[0] for row in await cur.fetchall())
            assert "Seq Scan on deliveries" not in plan, f"{name}:\n{plan}"
            assert "deliveries_queue" in plan, f"{name}:\n{plan}"


async def test_concurrent_claimers_take_one_probe_of_an_open_breaker(
    stores: list[PostgresStore], url: str
) -> None:
    """Claims racing from four stores on an endpoint paused by the breaker lease one probe."""
    clock = FakeClock()
    await stores[0].put_customer("acme", make_customer_config(), clock.now())
    await stores[0].enqueue(
        [new_delivery("acme", "trip", created_at=clock.now()) for _ in range(20)]
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE endpoints SET paused = 'breaker', paused_at = %s, consecutive_failures = 5"
            " WHERE customer_id = 'acme' AND service = 'trip'",
            (clock.now(),),
        )

    async def claim(store: PostgresStore, worker: int) -> list[Claimed]:
        return await store.claim(
            now=clock.now(),
            worker_id=f"w{worker}",
            lease_s=60,
            per_endpoint_limit=7,
            limit=50,
            probe_interval_s=10,
        )

    assert await claim(stores[0], 0) == []  # schedules the first probe in 10 s
    clock.advance(10)
    rounds = await asyncio.gather(*(claim(stores[i % 4], i) for i in range(12)))
    assert sum(len(got) for got in rounds) == 1
    clock.advance(10)
    rounds = await asyncio.gather(*(claim(stores[i % 4], i) for i in range(12)))
    assert sum(len(got) for got in rounds) == 0  # the first probe is still in flight
