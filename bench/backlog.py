"""Scenario 6, backlog: with 1k, 100k and 1M pending deliveries, the time of one claim (200
rows) and the resident memory of a ``telepush serve`` working through the queue.

    .venv/bin/python -m bench.backlog [--smoke] [--levels 1000,100000,1000000] [--runs R]

The queue is filled directly through the store's ``enqueue`` (batches of 1,000, a few at a
time so they share commits), not over HTTP. Documents are small (~250 B) so a million of them
load in well under a minute: claim cost and memory depend on row counts, not payload size,
since a worker holds at most its in-flight payloads. Each level's claim time is the median
of 20 claims, each released again, on the store in this process; then ``telepush serve``
runs on the file for a few seconds and its peak RSS (VmHWM) is read. The baseline of both
is the first (smallest) level: "flat" means a ratio near 1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench import report
from bench.load import session
from bench.procs import Receiver, Telepush, Workspace, oauth2_customer, workspace
from telepush.domain.customer import CustomerConfig
from telepush.domain.delivery import NewDelivery, Status
from telepush.store.secrets import SecretBox, load_or_create_key
from telepush.store.sqlite import SQLiteStore
from telepush.synth import Synth, to_bytes

SCENARIO = "backlog"
CUSTOMER = "c0"
MIB = 1024 * 1024


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", default=None, help="pending counts (1000,100000,1000000)")
    p.add_argument("--sample-s", type=float, default=None, help="seconds of serve per level (4)")


def open_store(data_dir: Path) -> SQLiteStore:
    data_dir.mkdir(parents=True, exist_ok=True)
    box = SecretBox(load_or_create_key(data_dir / "secret.key"))
    return SQLiteStore(data_dir / "telepush.db", box)


async def top_up(store: SQLiteStore, pending: int, want: int, docs: list[bytes]) -> None:
    """Enqueue until ``want`` are pending, in batches of 1,000, four at a time."""
    todo = want - pending
    now = datetime.now(UTC)

    def batch(size: int) -> list[NewDelivery]:
        return [
            NewDelivery(str(uuid.uuid4()), CUSTOMER, "trip", None, docs[i % len(docs)], now)
            for i in range(size)
        ]

    while todo > 0:
        sizes = [min(1000, todo - i * 1000) for i in range(4) if todo - i * 1000 > 0]
        await asyncio.gather(*(store.enqueue(batch(size)) for size in sizes))
        todo -= sum(sizes)


async def claim_ms(store: SQLiteStore, samples: int = 20) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        claimed = await store.claim(
            now=datetime.now(UTC), worker_id="bench", lease_s=60, per_endpoint_limit=200, limit=200
        )
        times.append((time.perf_counter() - started) * 1000)
        await store.release(
            [c.delivery_id for c in claimed], worker_id="bench", now=datetime.now(UTC)
        )
    return statistics.median(times)


async def serve_rss_mb(
    ws: Workspace, http: aiohttp.ClientSession, data_dir: Path, name: str, sample_s: float
) -> float:
    tp = await Telepush(ws, data_dir, name=name).start(http)
    peak = 0
    try:
        deadline = time.monotonic() + sample_s
        while time.monotonic() < deadline:
            peak = max(peak, tp.proc.memory_kb()[1])
            await asyncio.sleep(0.2)
    finally:
        tp.stop()
    return peak * 1024 / MIB


async def measure(args: argparse.Namespace) -> report.Result:
    default = "1000,10000" if args.smoke else "1000,100000,1000000"
    levels = [int(x) for x in (args.levels or default).split(",")]
    sample_s = args.sample_s or (1.5 if args.smoke else 4.0)
    synth = Synth(11)
    docs = [
        to_bytes({"itinId": synth.trip(points=2)["itinId"], "pad": "x" * 200}) for _ in range(100)
    ]
    claims = {n: report.Figure(f"claim of 200 at {n:,} pending", "ms") for n in levels}
    rss = {n: report.Figure(f"serve peak RSS at {n:,} pending", "MB") for n in levels}
    first = levels[0]
    for n in levels[1:]:
        claims[n].target = report.Target("ratio", "<=", 2.0, f"flat: ≤ 2× at {first:,}")
        claims[n].baseline_name = f"claim at {first:,} pending"
    for n in levels:
        rss[n].target = report.Target("value", "<=", 300, "< 300 MB")
    with workspace() as ws:
        async with session() as http:
            rec = await Receiver(ws).start(http)
            try:
                for run in range(args.runs):
                    data_dir = ws.root / f"telepush-{run}"
                    store = open_store(data_dir)
                    await store.open()
                    await store.migrate()
                    config = CustomerConfig.parse(oauth2_customer(rec, CUSTOMER))
                    await store.put_customer(CUSTOMER, config, datetime.now(UTC))
                    await store.close()
                    base_claim = None
                    for n in levels:
                        store = open_store(data_dir)
                        await store.open()
                        pending = (await store.count_by_status()).get(Status.PENDING, 0)
                        await top_up(store, pending, n, docs)
                        took = await claim_ms(store)
                        await store.close()
                        base_claim = took if base_claim is None else base_claim
                        claims[n].telepush.append(took)
                        if n != first:
                            claims[n].baseline.append(base_claim)
                        rss[n].telepush.append(
                            await serve_rss_mb(ws, http, data_dir, f"serve-{run}-{n}", sample_s)
                        )
            finally:
                rec.stop()
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.backlog",
        f"{', '.join(f'{n:,}' for n in levels)} pending (~250 B documents), {args.runs} run(s)",
        [*claims.values(), *rss.values()],
        notes=[
            "claim: one endpoint, limit 200; RSS: peak over the first "
            f"{sample_s:g} s of a serve draining the queue"
        ],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
