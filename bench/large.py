"""Scenario 9, large payloads: trips of about 1 MB drained to one customer over HTTPS with
OAuth2, in MB/s delivered, against the bare aiohttp client sending the same bodies.

    .venv/bin/python -m bench.large [--smoke] [--count N] [--runs R]

Loaded through the batch API (10 trips per request) by ``telepush serve --no-worker``; a
fresh ``telepush serve`` drains the queue. Both sides are measured at the receiver.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp

from bench import report
from bench.load import load_batches, put_customer, session, trip_pool, write_pool
from bench.measure import sustained_rate
from bench.procs import Receiver, Telepush, Workspace, oauth2_customer, run_bare_client, workspace

SCENARIO = "large"
CUSTOMER = "c0"
MB = 1_000_000


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=None, help="trips (default 400)")
    p.add_argument("--concurrency", type=int, default=16, help="bare client in flight")


def mb_per_s(log: dict[str, list[float]]) -> float:
    sizes = log["sizes"]
    return sustained_rate(log["times"]) * (sum(sizes) / len(sizes)) / MB if sizes else 0.0


async def drain(
    ws: Workspace,
    http: aiohttp.ClientSession,
    rec: Receiver,
    pool: list[bytes],
    count: int,
    run: int,
) -> float:
    data_dir = ws.root / f"telepush-{run}"
    api = await Telepush(ws, data_dir, name=f"api-{run}", worker=False).start(http)
    try:
        await put_customer(http, api, CUSTOMER, oauth2_customer(rec, CUSTOMER))
        await load_batches(http, api, CUSTOMER, pool, count=count, batch=10)
    finally:
        api.stop()
    await rec.reset(http)
    tp = await Telepush(ws, data_dir, name=f"serve-{run}").start(http)
    try:
        await rec.wait_count(http, count, timeout_s=max(60, count / 5))
    finally:
        tp.stop()
    return mb_per_s(await rec.log(http))


async def measure(args: argparse.Namespace) -> report.Result:
    count = args.count or (12 if args.smoke else 400)
    fig = report.Figure(
        "MB/s delivered, 1 MB trips",
        "MB/s",
        target=report.Target("ratio", ">=", 0.5, "≥ 0.5× bare"),
        baseline_name=f"bare aiohttp loop, {args.concurrency} in flight, no durability",
    )
    with workspace() as ws:
        pool = trip_pool(10, MB)
        pool_path = write_pool(ws.root / "big.ndjson", pool)
        async with session() as http:
            rec = await Receiver(ws).start(http)
            try:
                for run in range(args.runs):
                    await rec.reset(http)
                    await asyncio.to_thread(
                        run_bare_client,
                        ws,
                        rec,
                        pool_path,
                        count=count,
                        concurrency=args.concurrency,
                    )
                    fig.baseline.append(mb_per_s(await rec.log(http)))
                    fig.telepush.append(await drain(ws, http, rec, pool, count, run))
            finally:
                rec.stop()
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.large",
        f"{count:,} trips of 1 MB, {args.runs} run(s)",
        [fig],
        notes=["telepush: per-endpoint limit 16 (default)"],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
