"""Scenario 1, throughput vs ceiling: a pre-loaded queue of ~2 KB trips drained to one
customer over HTTPS with OAuth2, against a bare aiohttp client loop sending the same bodies
to the same receiver with no durability.

    .venv/bin/python -m bench.throughput [--smoke] [--count N] [--runs R]

Both are measured at the receiver, as the steady rate between the 5th and the 95th
percentile of arrivals. The queue is loaded through the batch API by ``telepush serve
--no-worker``, which then stops; a fresh ``telepush serve`` drains it.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiohttp

from bench import report
from bench.load import load_batches, put_customer, session, trip_pool, write_pool
from bench.measure import sustained_rate
from bench.procs import Receiver, Telepush, Workspace, oauth2_customer, run_bare_client, workspace

SCENARIO = "throughput"
CUSTOMER = "c0"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=None, help="events (default 100,000)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="requests in flight: the bare client's, and telepush's per-endpoint limit",
    )


async def drain(
    ws: Workspace,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    pool: list[bytes],
    count: int,
    run: int,
    per_endpoint: int,
) -> tuple[float, float, int]:
    """(deliveries/s, ingest events/s, lost) of one telepush run."""
    data_dir = ws.root / f"telepush-{run}"
    api = await Telepush(ws, data_dir, name=f"api-{run}", worker=False).start(http)
    try:
        await put_customer(http, api, CUSTOMER, oauth2_customer(receiver, CUSTOMER))
        loaded = await load_batches(http, api, CUSTOMER, pool, count=count, batch=1000)
    finally:
        api.stop()
    await receiver.reset(http)
    settings = {"per_endpoint_concurrency": per_endpoint}
    tp = await Telepush(ws, data_dir, name=f"serve-{run}", settings=settings).start(http)
    try:
        await receiver.wait_count(http, count, timeout_s=max(60.0, count / 300))
    finally:
        tp.stop()
    log = await receiver.log(http)
    lost = len(set(loaded.ids) - set(log["ids"]))
    return sustained_rate(log["times"]), loaded.rate, lost


async def bare_rate(
    ws: Workspace,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    pool_path: Path,
    *,
    count: int,
    concurrency: int,
) -> float:
    """The baseline: the bare client's deliveries/s sending ``count`` bodies of the pool,
    ``concurrency`` at a time (scenario 2 runs it too, for reference)."""
    await receiver.reset(http)
    bare = await asyncio.to_thread(
        run_bare_client, ws, receiver, pool_path, count=count, concurrency=concurrency
    )
    if bare["ok"] != count:
        raise RuntimeError(f"bare client: {bare}")
    log = await receiver.log(http)
    return sustained_rate(log["times"])


async def measure(args: argparse.Namespace) -> report.Result:
    count = args.count or (1_000 if args.smoke else 100_000)
    deliveries = report.Figure(
        "deliveries/s, 1 customer, OAuth2",
        "/s",
        target=report.Target("ratio", ">=", 0.5, "≥ 0.5× bare (moonshot 0.7)"),
        baseline_name=f"bare aiohttp loop, {args.concurrency} in flight, no durability",
    )
    ingest = report.Figure("batch ingest while pre-loading (info)", "/s")
    lost_total = 0
    with workspace() as ws:
        pool = trip_pool(1000, 2048)
        pool_path = write_pool(ws.root / "trips.ndjson", pool)
        async with session() as http:
            receiver = await Receiver(ws).start(http)
            try:
                for run in range(args.runs):
                    deliveries.baseline.append(
                        await bare_rate(
                            ws, http, receiver, pool_path, count=count, concurrency=args.concurrency
                        )
                    )
                    rate, ingest_rate, lost = await drain(
                        ws, http, receiver, pool, count, run, args.concurrency
                    )
                    deliveries.telepush.append(rate)
                    ingest.telepush.append(ingest_rate)
                    lost_total += lost
            finally:
                receiver.stop()
    size = sum(map(len, pool)) / len(pool)
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.throughput",
        f"{count:,} trips of {size / 1024:.1f} KB, {args.runs} run(s)",
        [deliveries, ingest],
        notes=[
            f"lost deliveries (accepted ids never received): {lost_total}",
            f"telepush: max_in_flight 256, per-endpoint limit {args.concurrency}, "
            "claim batch 200, SQLite synchronous=FULL",
        ],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
