"""A fast HTTPS receiver for benchmarks: answers 200 to every push, in its own process.

    python -m bench.receiver --port 8443 --cert server.pem --key server.key [--hang c0]

Routes (127.0.0.1 only):
- ``POST /oauth/token``: a client-credentials token endpoint (any credentials), one-hour
  tokens.
- ``POST /push/{customer}/{service}``: reads the body and answers 200 ``ok``; records the
  ``Telepush-Delivery-Id``, the arrival time (``time.monotonic()``, which on Linux is one
  clock for every process) and the body size. A customer named by ``--hang`` gets no answer
  until ``--hang-s`` has passed (its client times out first).
- ``GET /_stats``: counts so far; ``GET /_log``: every recorded push;
  ``POST /_reset``: forget them.

It stores nothing and checks no credentials: it stands for the fastest customer possible,
so what is measured is the sender.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN_REPLY = {"access_token": "bench-token", "token_type": "Bearer", "expires_in": 3600}


@dataclass
class Record:
    """What arrived, in order of arrival."""

    ids: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    by_customer: dict[str, int] = field(default_factory=dict)
    size_total: int = 0
    tokens: int = 0

    def add(self, delivery_id: str, customer: str, size: int) -> None:
        self.ids.append(delivery_id)
        self.times.append(time.monotonic())
        self.customers.append(customer)
        self.sizes.append(size)
        self.by_customer[customer] = self.by_customer.get(customer, 0) + 1
        self.size_total += size

    def stats(self) -> dict[str, Any]:
        return {
            "count": len(self.ids),
            "bytes": self.size_total,
            "first": self.times[0] if self.times else None,
            "last": self.times[-1] if self.times else None,
            "byCustomer": self.by_customer,
            "tokens": self.tokens,
        }

    def dump(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "times": self.times,
            "customers": self.customers,
            "sizes": self.sizes,
        }


def create_app(hang: frozenset[str], hang_s: float) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    record = Record()

    async def token(request: web.Request) -> web.Response:
        await request.read()
        record.tokens += 1
        return web.json_response(TOKEN_REPLY)

    async def push(request: web.Request) -> web.Response:
        body = await request.read()
        customer = request.match_info["customer"]
        if customer in hang:
            await asyncio.sleep(hang_s)
        record.add(request.headers.get("Telepush-Delivery-Id", ""), customer, len(body))
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(record.stats())

    async def log(request: web.Request) -> web.Response:
        return web.json_response(record.dump())

    async def reset(request: web.Request) -> web.Response:
        nonlocal record
        record = Record()
        return web.json_response({"ok": True})

    app.router.add_post("/oauth/token", token)
    app.router.add_post("/push/{customer}/{service}", push)
    app.router.add_get("/_stats", stats)
    app.router.add_get("/_log", log)
    app.router.add_post("/_reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--hang", default="", help="comma-separated customers never answered")
    parser.add_argument("--hang-s", type=float, default=600.0)
    args = parser.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    hang = frozenset(c for c in args.hang.split(",") if c)
    web.run_app(
        create_app(hang, args.hang_s),
        host="127.0.0.1",
        port=args.port,
        ssl_context=ctx,
        access_log=None,
        print=None,
        backlog=1024,
        shutdown_timeout=0.5,
    )


if __name__ == "__main__":
    main()
