"""Scenario 7, crash cost: ``kill -9`` of ``telepush serve`` every few seconds while events
are pushed and delivered, restarting it each time. Counted by delivery id at the receiver:
lost (accepted with a 202, never received) must be 0; duplicates (received more than once)
at most the per-endpoint in-flight limit per kill.

    .venv/bin/python -m bench.crash [--smoke] [--count N] [--every S] [--runs R]

Kills go on until every accepted event has arrived (40 at most; the smoke run kills once).
The client pushes batches of 500 throughout; a batch whose request dies with the process is
sent again after the restart (its first copy, if it was committed, is delivered too, but was
never acknowledged, so it counts neither as lost nor as duplicate). Each duplicate is also
placed against the kills: first received within half a second after one (in flight at the
kill), or before it (answered, its outcome not yet committed; with how long before). The
baseline is the same run without kills: the ratio is the throughput kept under repeated
crashes.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
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


# A delivery first received this soon after a kill was in flight when it came (a restarted
# process takes over a second before it sends anything).
IN_FLIGHT_S = 0.5


@dataclass
class Run:
    rate: float  # deliveries/s over the whole run
    lost: int
    duplicates: int
    kills: int
    # Of the duplicates: first received within IN_FLIGHT_S after a kill (in flight at the
    # kill), or before it (answered, outcome not yet committed), with how long before, in ms.
    in_flight: int = 0
    answered_before_ms: list[float] = field(default_factory=list)


def breakdown(run: Run, times: list[tuple[str, float]], kill_times: list[float]) -> None:
    """When each duplicated delivery was first received, relative to the kills."""
    first: dict[str, float] = {}
    for delivery_id, at in times:
        first.setdefault(delivery_id, at)
    counts = Counter(delivery_id for delivery_id, _ in times)
    for delivery_id, n in counts.items():
        if n < 2:
            continue
        at = first[delivery_id]
        i = bisect.bisect_right(kill_times, at)
        if i and at - kill_times[i - 1] <= IN_FLIGHT_S:
            run.in_flight += n - 1
        elif i < len(kill_times):
            run.answered_before_ms += [(kill_times[i] - at) * 1000] * (n - 1)


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
    max_kills: int = MAX_KILLS,
) -> Run:
    await rec.reset(http)
    life = Life(ws, ws.root / name)
    tp = await life.start(http)
    await put_customer(http, tp, CUSTOMER, oauth2_customer(rec, CUSTOMER))
    accepted: list[str] = []
    loaded = asyncio.Event()
    drained = asyncio.Event()
    kills = 0
    kill_times: list[float] = []  # monotonic, as the receiver's arrival times

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
        while not drained.is_set() and kills < max_kills:
            await asyncio.sleep(every_s)
            if drained.is_set():
                break
            kill_times.append(time.monotonic())
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
    run = Run(rate, len(missing), duplicates, kills)
    breakdown(run, list(zip(log["ids"], log["times"], strict=True)), kill_times)
    return run


async def measure(args: argparse.Namespace) -> report.Result:
    count = args.count or (1_500 if args.smoke else 50_000)
    # (the smoke run's 1,500 drain in about half a second: one kill, early, while they do)
    every_s = args.every or (0.3 if args.smoke else 3.0)
    max_kills = 1 if args.smoke else MAX_KILLS
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
    in_flight = report.Figure("duplicates per kill: in flight at the kill (info)", "")
    unrecorded = report.Figure(
        "duplicates per kill: answered before the kill, not yet recorded (info)", ""
    )
    before = report.Figure(
        "of those, median time from the answer to the kill (info)",
        "ms",
    )
    kills_seen: list[int] = []
    with workspace() as ws:
        pool = trip_pool(1000, 2048)
        async with session() as http:
            rec = await Receiver(ws).start(http)
            try:
                for run in range(args.runs):
                    calm = await run_once(ws, http, rec, pool, count, None, f"calm-{run}")
                    rate.baseline.append(calm.rate)
                    got = await run_once(
                        ws, http, rec, pool, count, every_s, f"kills-{run}", max_kills
                    )
                    kills = max(got.kills, 1)
                    rate.telepush.append(got.rate)
                    lost.telepush.append(got.lost)
                    dups.telepush.append(got.duplicates / kills)
                    in_flight.telepush.append(got.in_flight / kills)
                    unrecorded.telepush.append(len(got.answered_before_ms) / kills)
                    if got.answered_before_ms:
                        before.telepush.append(statistics.median(got.answered_before_ms))
                    kills_seen.append(got.kills)
            finally:
                rec.stop()
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.crash",
        f"{count:,} trips of 2 KB, kill -9 every {every_s:g} s "
        f"({min(kills_seen)}–{max(kills_seen)} kills), {args.runs} run(s)",
        # (no median without a duplicate answered before a kill)
        [lost, dups, in_flight, unrecorded, *([before] if before.telepush else []), rate],
        notes=[
            f"lease 8 s, per-endpoint limit {PER_ENDPOINT}; lost counted by delivery id",
            f"a duplicate first received within {IN_FLIGHT_S:g} s after a kill was in flight "
            "at the kill; one received before it was answered, its outcome not yet committed",
        ],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
