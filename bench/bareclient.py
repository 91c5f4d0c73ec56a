"""The baseline: a bare aiohttp client loop POSTing documents, with no queue and no durability.

    python -m bench.bareclient --url https://127.0.0.1:8443/push/c0/trip --ca ca.pem \
        --pool trips.ndjson --count 100000 --concurrency 16 --token-url .../oauth/token

It fetches one OAuth2 token, then sends ``--count`` bodies taken in turn from the NDJSON
``--pool`` with the same headers telepush sends, ``--concurrency`` at a time over kept-alive
connections (closed loop), or at ``--rate`` requests per second (open loop, for latency).
It is what an operator would write without telepush: as fast as sending can be, and nothing
survives a crash. It runs on the event loop ``telepush serve`` runs on (uvloop where it is
installed), so that a ratio compares the queue, not the loop. Prints one JSON line:
``{"sent", "ok", "seconds", "loop"}``; with ``--record`` it also writes each delivery id's
send time (``time.monotonic()``) to a JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from telepush import USER_AGENT


async def fetch_token(session: aiohttp.ClientSession, url: str) -> str:
    basic = base64.b64encode(b"bench-client:bench-secret").decode()
    async with session.post(
        url,
        data=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ) as response:
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
        return str(data["access_token"])


async def run(
    args: argparse.Namespace, pool: list[bytes], sent_at: dict[str, float]
) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=args.ca)
    connector = aiohttp.TCPConnector(ssl=ctx, limit=max(args.concurrency, 1) * 2)
    ok = 0
    sent = 0
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        token = await fetch_token(session, args.token_url)

        async def send_one(index: int) -> None:
            nonlocal ok
            delivery_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Authorization": f"Bearer {token}",
                "Telepush-Delivery-Id": delivery_id,
                "Telepush-Attempt": "1",
                "Telepush-Service": "trip",
            }
            if args.record:
                sent_at[delivery_id] = time.monotonic()
            async with session.post(
                args.url, data=pool[index % len(pool)], headers=headers
            ) as response:
                await response.read()
                if response.status == 200:
                    ok += 1

        started = time.monotonic()
        if args.rate > 0:
            tasks: set[asyncio.Task[None]] = set()
            interval_s = 1.0 / args.rate
            while sent < args.count:
                due = started + sent * interval_s
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(send_one(sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            if tasks:
                await asyncio.gather(*tasks)
        else:

            async def loop() -> None:
                nonlocal sent
                while sent < args.count:
                    index = sent
                    sent += 1
                    await send_one(index)

            await asyncio.gather(*(loop() for _ in range(args.concurrency)))
        seconds = time.monotonic() - started
    return {"sent": sent, "ok": ok, "seconds": seconds}


def run_on_telepush_loop(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run on the event loop ``telepush serve`` uses (uvloop where installed), so the
    baseline's client differs from telepush by the queue, not by the loop."""
    try:
        import uvloop
    except ImportError:
        return {**asyncio.run(coro), "loop": "asyncio"}
    return {**uvloop.run(coro), "loop": "uvloop"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--record", default="")
    args = parser.parse_args()
    pool = [line for line in Path(args.pool).read_bytes().split(b"\n") if line]
    sent_at: dict[str, float] = {}
    summary = run_on_telepush_loop(run(args, pool, sent_at))
    if args.record:
        Path(args.record).write_text(json.dumps(sent_at))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
