"""Feeding telepush: documents from the seeded generator, the management API's push routes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bench.procs import API_TOKEN
from telepush.synth import Synth, to_bytes

HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def trip_pool(count: int, size_bytes: int, seed: int = 7) -> list[bytes]:
    """``count`` distinct trips of about ``size_bytes`` of compact JSON each (seeded)."""
    synth = Synth(seed)
    return [to_bytes(synth.trip_of_size(size_bytes)) for _ in range(count)]


def write_pool(path: Path, pool: Sequence[bytes]) -> Path:
    path.write_bytes(b"\n".join(pool) + b"\n")
    return path


def take(pool: Sequence[bytes], start: int, count: int) -> list[bytes]:
    return [pool[(start + i) % len(pool)] for i in range(count)]


class ApiError(RuntimeError):
    pass


class Api(Protocol):
    """Something that serves telepush's push routes: telepush itself, or the sink."""

    url: str


async def put_customer(
    session: aiohttp.ClientSession, tp: Api, customer: str, config: dict[str, Any]
) -> None:
    async with session.put(
        f"{tp.url}/v1/customers/{customer}", json=config, headers=HEADERS
    ) as response:
        if response.status not in (200, 201):
            raise ApiError(f"PUT customer {customer}: {response.status} {await response.text()}")


async def push_batch(
    session: aiohttp.ClientSession,
    tp: Api,
    customer: str,
    docs: Sequence[bytes],
    service: str = "trip",
) -> list[str]:
    """Queue ``docs`` as one NDJSON batch; their delivery ids once committed."""
    async with session.post(
        f"{tp.url}/v1/customers/{customer}/push/{service}/batch",
        data=b"\n".join(docs),
        headers={**HEADERS, "Content-Type": "application/x-ndjson"},
    ) as response:
        body = await response.read()
        if response.status != 202:
            raise ApiError(f"batch push: {response.status} {body[:300]!r}")
    result = json.loads(body)
    if result["rejected"]:
        raise ApiError(f"batch push: {result['rejected']} documents rejected")
    return [item["deliveryId"] for item in result["items"]]


async def push_one(
    session: aiohttp.ClientSession, tp: Api, customer: str, doc: bytes, service: str = "trip"
) -> str:
    async with session.post(
        f"{tp.url}/v1/customers/{customer}/push/{service}",
        data=doc,
        headers={**HEADERS, "Content-Type": "application/json"},
    ) as response:
        body = await response.read()
        if response.status != 202:
            raise ApiError(f"push: {response.status} {body[:300]!r}")
    return str(json.loads(body)["deliveryId"])


@dataclass
class Loaded:
    """What a load run queued: delivery ids with their acceptance times, and how long."""

    ids: list[str] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)  # time.monotonic() of each 202
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.ids) / self.seconds if self.seconds else 0.0


async def load_batches(
    session: aiohttp.ClientSession,
    tp: Api,
    customer: str,
    pool: Sequence[bytes],
    *,
    count: int,
    batch: int = 1000,
    concurrency: int = 2,
    offset: int = 0,
) -> Loaded:
    """Queue ``count`` documents in batches, ``concurrency`` requests at a time."""
    loaded = Loaded()
    next_start = 0

    async def loop() -> None:
        nonlocal next_start
        while next_start < count:
            start = next_start
            size = min(batch, count - start)
            next_start += size
            ids = await push_batch(session, tp, customer, take(pool, offset + start, size))
            now = time.monotonic()
            loaded.ids.extend(ids)
            loaded.accepted_at.extend([now] * len(ids))

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    loaded.seconds = time.monotonic() - started
    return loaded


async def load_singles(
    session: aiohttp.ClientSession,
    tp: Api,
    customer: str,
    pool: Sequence[bytes],
    *,
    count: int,
    concurrency: int = 32,
) -> Loaded:
    """Queue ``count`` documents one request each, ``concurrency`` requests at a time."""
    loaded = Loaded()
    sent = 0

    async def loop() -> None:
        nonlocal sent
        while sent < count:
            index = sent
            sent += 1
            loaded.ids.append(await push_one(session, tp, customer, pool[index % len(pool)]))
            loaded.accepted_at.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    loaded.seconds = time.monotonic() - started
    return loaded


def session(limit: int = 256) -> aiohttp.ClientSession:
    """A client session for driving a benchmark (long timeouts, no proxy from the env)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=300),
        trust_env=False,
    )
