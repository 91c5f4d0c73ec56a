"""Scenario 5, isolation: ten customers, one of whose endpoints hangs until the timeout; the
other nine's deliveries/s, compared with a run where all ten are healthy.

    .venv/bin/python -m bench.isolation [--smoke] [--per-customer N] [--runs R]

Each run pre-loads the same queue (``telepush serve --no-worker``), then one ``telepush serve``
drains it; the nine healthy customers' steady rate is measured at the receiver. In the hung
run, customer c0's endpoint never answers: every attempt waits out the 5 s total timeout and
is retried a second later, holding its per-endpoint slots all along.
"""

from __future__ import annotations

import argparse

import aiohttp

from bench import report
from bench.load import load_batches, put_customer, session, trip_pool
from bench.measure import sustained_rate
from bench.procs import Receiver, Telepush, Workspace, oauth2_customer, workspace

SCENARIO = "isolation"
CUSTOMERS = tuple(f"c{i}" for i in range(10))
HUNG = "c0"
HEALTHY = CUSTOMERS[1:]
SETTINGS = {"total_timeout_s": 5, "connect_timeout_s": 2, "lease_s": 20, "shutdown_grace_s": 0.5}


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--per-customer", type=int, default=None, help="events (default 3,000)")


async def run_once(
    ws: Workspace, http: aiohttp.ClientSession, pool: list[bytes], count: int, name: str, hung: bool
) -> float:
    """Deliveries/s of the nine healthy customers."""
    rec = await Receiver(ws, name=f"receiver-{name}", hang=(HUNG,) if hung else ()).start(http)
    try:
        data_dir = ws.root / f"telepush-{name}"
        api = await Telepush(ws, data_dir, name=f"api-{name}", worker=False).start(http)
        try:
            for customer in CUSTOMERS:
                await put_customer(http, api, customer, oauth2_customer(rec, customer))
            for customer in CUSTOMERS:
                await load_batches(http, api, customer, pool, count=count, batch=1000)
        finally:
            api.stop()
        tp = Telepush(ws, data_dir, name=f"serve-{name}", settings=SETTINGS)
        await tp.start(http)
        try:
            total = count * len(HEALTHY)
            await rec.wait_count(http, total, timeout_s=max(60, total / 200), customers=HEALTHY)
        finally:
            tp.stop()
        log = await rec.log(http)
    finally:
        rec.stop()
    times = [t for t, c in zip(log["times"], log["customers"], strict=True) if c in HEALTHY]
    return sustained_rate(times)


async def measure(args: argparse.Namespace) -> report.Result:
    count = args.per_customer or (60 if args.smoke else 3_000)
    fig = report.Figure(
        "9 healthy customers' deliveries/s, 1 hung",
        "/s",
        target=report.Target("ratio", ">=", 0.9, "≥ 0.9× all healthy"),
        baseline_name="the same 9 when all 10 are healthy",
    )
    with workspace() as ws:
        pool = trip_pool(1000, 2048)
        async with session() as http:
            for run in range(args.runs):
                fig.baseline.append(await run_once(ws, http, pool, count, f"ok-{run}", False))
                fig.telepush.append(await run_once(ws, http, pool, count, f"hung-{run}", True))
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.isolation",
        f"10 customers × {count:,} trips of 2 KB, {args.runs} run(s)",
        [fig],
        notes=[
            "per-endpoint limit 16, max in flight 256, total timeout 5 s, retry every 1 s",
        ],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
