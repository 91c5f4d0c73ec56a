"""Scenario 7, crash cost: ``kill -9`` of ``telepush serve`` every few seconds while events
are pushed and delivered, restarting it each time. Counted by delivery id at the receiver:
lost (accepted with a 202, never received) must be 0; duplicates (received more than once)
at most the per-endpoint in-flight limit per kill.

    .venv/bin/python -m bench.crash [--smoke] [--count N] [--every S] [--runs R]

Kills go on until every accepted event has arrived (40 at most). The client pushes batches
of 500 throughout; a batch whose request dies with the process is sent again after the
restart (its first copy, if it was committed, is delivered too, but was never acknowledged,
so it counts neither as lost nor as duplicate). The baseline is the
same run without kills: the ratio is the throughput kept under repeated crashes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench import report
from bench.load import ApiError, push_batch, put_customer, session, take, trip_pool
from bench.procs import Receiver, Telepush, Workspace, oauth2_customer, workspace

SCENARIO = "crash"
CUSTOMER = "c0"
PER_ENDPOINT = 16
MAX_KILLS = 40
# A killed worker's leases are taken again once they expire: short, to keep runs bounded.
SETTINGS = {
    "lease_s": 8,
    "total_timeout_s": 5,
    "connect_timeout_s": 2,
    "per_endpoint_concurrency": PER_ENDPOINT,
}


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=None, help="events (default 50,000)")
    p.add_argument("--every", type=float, default=None, help="seconds between kills (3)")


class Life:
    """The current telepush process, replaced after each kill."""

    def __init__(self, ws: Workspace, data_dir: Path) -> None:
        self.ws = ws
        self.data_dir = data_dir
        self.generation = 0
        self.tp: Telepush | None = None
        self.up = asyncio.Event()

    async def start(self, http: aiohttp.ClientSession) -> Telepush:
        self.generation += 1
        name = f"serve-{self.data_dir.name}-{self.generation}"
        tp = Telepush(self.ws, self.data_dir, name=name, settings=SETTINGS)
        await tp.start(http)
        self.tp = tp
        self.up.set()
        return tp

    def kill(self) -> None:
        self.up.clear()
        if self.tp is not None:
            self.tp.proc.kill9()


async def run_once(
    ws: Workspace,
    http: aiohttp.ClientSession,
    rec: Receiver,
    pool: list[bytes],
    count: int,
    every_s: float | None,
    name: str,
) -> tuple[float, int, int, int]:
    """(deliveries/s, lost, duplicates, kills) of one run."""
    await rec.reset(http)
    life = Life(ws, ws.root / name)
    tp = await life.start(http)
    await put_customer(http, tp, CUSTOMER, oauth2_customer(rec, CUSTOMER))
    accepted: list[str] = []
    loaded = asyncio.Event()
    drained = asyncio.Event()
    kills = 0

    async def load() -> None:
        for start in range(0, count, 500):
            docs = take(pool, start, min(500, count - start))
            while True:
                await life.up.wait()
                assert life.tp is not None
                try:
                    accepted.extend(await push_batch(http, life.tp, CUSTOMER, docs))
                    break
                except (aiohttp.ClientError, ApiError, OSError):
                    await asyncio.sleep(0.05)  # the process died under us: again, later
        loaded.set()

    async def killer() -> None:
        nonlocal kills
        assert every_s is not None
        while not drained.is_set() and kills < MAX_KILLS:
            await asyncio.sleep(every_s)
            if drained.is_set():
                break
            life.kill()
            kills += 1
            await life.start(http)

    started = time.monotonic()
    tasks = [asyncio.create_task(load())]
    if every_s is not None:
        tasks.append(asyncio.create_task(killer()))
    try:
        await tasks[0]
        deadline = time.monotonic() + 180
        while True:
            log = await rec.log(http)
            missing = set(accepted) - set(log["ids"])
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        drained.set()
        await asyncio.gather(*tasks[1:])
    finally:
        for task in tasks:
            task.cancel()
        if life.tp is not None:
            life.tp.stop()
    received = Counter(log["ids"])
    seconds = max(log["times"]) - started if log["times"] else 0.0
    rate = len(received) / seconds if seconds > 0 else 0.0
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    return rate, len(missing), duplicates, kills


async def measure(args: argparse.Namespace) -> report.Result:
    count = args.count or (1_500 if args.smoke else 50_000)
    every_s = args.every or (1.0 if args.smoke else 3.0)
    lost = report.Figure(
        "lost (accepted, never received)",
        "",
        target=report.Target("value", "==", 0, "= 0"),
    )
    dups = report.Figure(
        "duplicates per kill",
        "",
        target=report.Target("value", "<=", PER_ENDPOINT, f"≤ {PER_ENDPOINT} (in-flight limit)"),
    )
    rate = report.Figure(
        "deliveries/s under kills (whole run)",
        "/s",
        baseline_name="the same run without kills",
    )
    kills_seen: list[int] = []
    with workspace() as ws:
        pool = trip_pool(1000, 2048)
        async with session() as http:
            rec = await Receiver(ws).start(http)
            try:
                for run in range(args.runs):
                    base, _, _, _ = await run_once(ws, http, rec, pool, count, None, f"calm-{run}")
                    rate.baseline.append(base)
                    got, missing, duplicates, kills = await run_once(
                        ws, http, rec, pool, count, every_s, f"kills-{run}"
                    )
                    rate.telepush.append(got)
                    lost.telepush.append(missing)
                    dups.telepush.append(duplicates / max(kills, 1))
                    kills_seen.append(kills)
            finally:
                rec.stop()
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.crash",
        f"{count:,} trips of 2 KB, kill -9 every {every_s:g} s "
        f"({min(kills_seen)}–{max(kills_seen)} kills), {args.runs} run(s)",
        [lost, dups, rate],
        notes=[f"lease 8 s, per-endpoint limit {PER_ENDPOINT}; lost counted by delivery id"],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
