"""Scenario 4, latency: from an event accepted to its push arriving at the receiver, at half
the sustained throughput: p50, p95, p99.

    .venv/bin/python -m bench.latency [--smoke] [--rate R] [--seconds S] [--runs R]

The sustained throughput is first measured in the same run (a burst of batched events, from
the first push to the last arrival), unless ``--rate`` is given. Events then arrive
open-loop in small batches every 20 ms, as a platform would feed them. The baseline is the
bare client sending the same documents at the same rate: the floor of "send -> received"
on this machine.

"Accepted" is taken as the moment the push request is sent, so each figure also includes
the push request itself up to the commit (an upper bound): the moment its 202 reaches the
client is no good, as a delivery may arrive before it (the API's reply can be held back by
Nagle's algorithm, see docs/benchmarks.md).
Both ends use ``time.monotonic()``, one clock for every process on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp

from bench import report
from bench.load import push_batch, put_customer, session, take, trip_pool, write_pool
from bench.measure import percentile
from bench.procs import Receiver, Telepush, Workspace, oauth2_customer, run_bare_client, workspace

SCENARIO = "latency"
CUSTOMER = "c0"
TICK_S = 0.02


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=None, help="events/s (default: half sustained)")
    p.add_argument("--seconds", type=float, default=None, help="paced phase (default 20 s)")


async def calibrate(
    http: aiohttp.ClientSession, tp: Telepush, rec: Receiver, pool: list[bytes], count: int
) -> float:
    """End-to-end events/s of ``count`` events pushed in batches while the worker delivers:
    from the first push to the last arrival, so ingest and delivery share the machine as
    they will in the paced phase."""
    await rec.reset(http)
    batches = [take(pool, i, min(500, count - i)) for i in range(0, count, 500)]
    started = time.monotonic()
    await asyncio.gather(*(push_batch(http, tp, CUSTOMER, docs) for docs in batches))
    stats = await rec.wait_count(http, count, timeout_s=120)
    return count / (float(stats["last"]) - started)


async def paced(
    http: aiohttp.ClientSession,
    tp: Telepush,
    rec: Receiver,
    pool: list[bytes],
    rate: float,
    seconds: float,
) -> list[float]:
    """Latencies (ms) of events pushed at ``rate`` for ``seconds``."""
    await rec.reset(http)
    accepted: dict[str, float] = {}
    per_tick = rate * TICK_S
    ticks = max(1, round(seconds / TICK_S))
    tasks: list[asyncio.Task[None]] = []
    owed = 0.0

    async def send(docs: list[bytes]) -> None:
        submitted = time.monotonic()
        for delivery_id in await push_batch(http, tp, CUSTOMER, docs):
            accepted[delivery_id] = submitted

    started = time.monotonic()
    sent = 0
    for tick in range(ticks):
        delay = started + tick * TICK_S - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        owed += per_tick
        size = int(owed)
        if size:
            owed -= size
            tasks.append(asyncio.create_task(send(take(pool, sent, size))))
            sent += size
    await asyncio.gather(*tasks)
    await rec.wait_count(http, sent, timeout_s=60)
    log = await rec.log(http)
    arrived = dict(zip(log["ids"], log["times"], strict=True))
    return [(arrived[d] - t) * 1000 for d, t in accepted.items() if d in arrived]


async def bare(
    ws: Workspace,
    http: aiohttp.ClientSession,
    rec: Receiver,
    pool_path: Path,
    rate: float,
    seconds: float,
) -> list[float]:
    await rec.reset(http)
    record = ws.root / "bare-sent.json"
    count = max(1, round(rate * seconds))
    await asyncio.to_thread(
        run_bare_client, ws, rec, pool_path, count=count, rate=rate, record=record
    )
    sent_at: dict[str, float] = json.loads(record.read_text())
    log = await rec.log(http)
    return [(t - sent_at[d]) * 1000 for d, t in zip(log["ids"], log["times"], strict=True)]


async def measure(args: argparse.Namespace) -> report.Result:
    seconds = args.seconds or (2.0 if args.smoke else 20.0)
    calib = 400 if args.smoke else 10_000
    target = report.Target("value", "<=", 250, "p99 < 250 ms")
    figs = {
        q: report.Figure(
            f"p{q} pushed -> received",
            "ms",
            target=target if q == 99 else None,
            baseline_name="bare client at the same rate (send -> received)",
        )
        for q in (50, 95, 99)
    }
    sustained = report.Figure("sustained events/s, ingest + delivery (calibration)", "/s")
    rates: list[float] = []
    with workspace() as ws:
        pool = trip_pool(1000, 2048)
        pool_path = write_pool(ws.root / "trips.ndjson", pool)
        async with session() as http:
            rec = await Receiver(ws).start(http)
            try:
                for run in range(args.runs):
                    tp = Telepush(ws, ws.root / f"telepush-{run}", name=f"serve-{run}")
                    await tp.start(http)
                    try:
                        await put_customer(http, tp, CUSTOMER, oauth2_customer(rec, CUSTOMER))
                        full = await calibrate(http, tp, rec, pool, calib)
                        sustained.telepush.append(full)
                        rate = args.rate or full / 2
                        rates.append(rate)
                        lat = await paced(http, tp, rec, pool, rate, seconds)
                    finally:
                        tp.stop()
                    base = await bare(ws, http, rec, pool_path, rate, seconds)
                    for q, fig in figs.items():
                        fig.telepush.append(percentile(lat, q / 100))
                        fig.baseline.append(percentile(base, q / 100))
            finally:
                rec.stop()
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.latency",
        f"{seconds:g} s at {report.fmt(min(rates))}–{report.fmt(max(rates))} events/s "
        f"(half sustained), trips of 2 KB, {args.runs} run(s)",
        [figs[50], figs[95], figs[99], sustained],
        notes=[f"events pushed in batches every {TICK_S * 1000:g} ms (open loop)"],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
