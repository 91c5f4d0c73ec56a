"""Scenario 2, versus peers: the same ~2 KB trips delivered through Celery and Dramatiq (Redis
broker, a requests-based task, their usual retry set-up) and through telepush, in one run.

    .venv/bin/python -m bench.peers [--smoke] [--count N] [--runs R]

The peers live in a virtual environment of their own, ``bench/.peers-venv`` (created on the
first run, then reused; never project dependencies), with pinned releases of
``celery[redis]``, ``dramatiq[redis]``, ``redis`` and ``requests``. Their task code is in
``bench/peers_tasks`` (standard library and the peer libraries only). Each task POSTs one
trip with requests, the HTTP client such tasks are usually written with: that is the point
of the comparison, "a task queue + an HTTP client" against telepush.

Every leg pre-loads the same bodies first and is then timed draining them to the same
receiver (HTTPS, OAuth2, TLS verified against the test CA):

- telepush: ``telepush serve --no-worker`` loads the batch API (SQLite), then a fresh
  ``telepush serve`` drains it, as in scenario 1;
- Celery: a producer enqueues every ``deliver`` task into Redis, then ``celery worker``
  (prefork) drains them;
- Dramatiq: the same with ``dramatiq`` (processes × threads);
- and, for reference, scenario 1's baseline: the bare aiohttp client, no queue and no
  durability, as many in flight as telepush's per-endpoint limit. Every leg's rate is also
  shown as a share of it, and so is the 5× target: on two cores shared with the receiver,
  that share is what a comparison of senders comes down to.

The rate is measured at the receiver between the 5th and the 95th percentile of arrivals;
CPU (user + system, ``/proc/<pid>/stat``) of the sender side — ``telepush serve`` and its
delivery processes, or the peer's worker processes plus ``redis-server`` — over the same
window. Every delivery id is checked at the receiver: lost (enqueued, never received) and
duplicates.

Redis: ``--redis`` (default ``redis://127.0.0.1:6379/15``), its database flushed before each
peer leg. When it does not answer, a private ``redis-server`` (no persistence) is started on
a free port if the binary exists; otherwise the scenario says it skipped (exit 0, or 1 for
``--smoke`` when ``CI`` is set).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import report
from bench.load import load_batches, put_customer, session, trip_pool, write_pool
from bench.measure import sustained_rate
from bench.peers_setup import HERE, Broker, find_broker, peers_venv
from bench.procs import (
    Proc,
    Receiver,
    Telepush,
    Workspace,
    oauth2_customer,
    workspace,
)
from bench.scaleout import Snapshot, cpu_between, parent_pid, snapshot, tree
from bench.throughput import bare_rate

SCENARIO = "peers"
CUSTOMER = "c0"
PEERS = ("celery", "dramatiq")
LEGS = ("telepush", *PEERS)
NAMES = {"telepush": "telepush", "celery": "Celery", "dramatiq": "Dramatiq"}
# The reference run in every invocation: scenario 1's baseline, the bare aiohttp client
# (no queue, no durability) sending the same bodies to the same receiver. Every leg's rate
# is also shown as a share of it: what the comparison with the peers is worth on this
# machine, where the receiver shares the cores.
BARE = "bare"
BARE_NAME = "bare aiohttp client"
TASKS = HERE / "peers_tasks"
WINDOW = (0.05, 0.95)  # share of the backlog arrived when the CPU window opens and closes
SETTLE_S = 15.0  # after the count arrived, how long to wait for ids still missing


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=None, help="deliveries per leg (20,000)")
    p.add_argument(
        "--concurrency", type=int, default=64, help="telepush's per-endpoint limit (as scenario 1)"
    )
    p.add_argument("--redis", default="redis://127.0.0.1:6379/15", help="broker (a database)")
    p.add_argument(
        "--celery-concurrency", type=int, default=4, help="celery worker prefork processes"
    )
    p.add_argument(
        "--celery-prefetch", type=int, default=4, help="celery --prefetch-multiplier (default 4)"
    )
    p.add_argument("--dramatiq-processes", type=int, default=2, help="dramatiq --processes")
    p.add_argument("--dramatiq-threads", type=int, default=16, help="dramatiq --threads")
    p.add_argument(
        "--legs",
        default=",".join(LEGS),
        help="legs to run, comma-separated (a subset only with --no-write: for tuning)",
    )


# ---- processes and CPU ----------------------------------------------------------------------


def stop_tree(proc: Proc, known: set[int]) -> None:
    """SIGTERM the worker's main process (a warm shutdown), then SIGKILL what is left of the
    processes it had started (only those: ``known``, seen while it ran)."""
    if proc.alive():
        known |= set(tree(proc.pid))
    proc.stop(timeout_s=15)
    for pid in sorted(known - {proc.pid}):
        if parent_pid(pid) is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# ---- one leg --------------------------------------------------------------------------------


@dataclass
class Leg:
    name: str
    count: int
    rate: float = 0.0
    window_s: float = 0.0
    window_deliveries: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # group -> CPU s over the window
    received: int = 0  # pushes that arrived, duplicates included
    lost: int = 0
    duplicates: int = 0
    enqueue_rate: float = 0.0

    @property
    def sender_cpu(self) -> float:
        return sum(s for group, s in self.cpu.items() if group != "receiver")

    @property
    def per_1000(self) -> float:
        return 1000 * self.sender_cpu / self.window_deliveries if self.window_deliveries else 0.0

    @property
    def delivered(self) -> int:
        return self.count - self.lost


@dataclass
class Setup:
    ws: Workspace
    http: aiohttp.ClientSession
    receiver: Receiver
    broker: Broker | None
    python: Path | None  # the peers' interpreter
    pool: list[bytes]
    pool_path: Path
    count: int
    args: argparse.Namespace


Groups = Callable[[], dict[str, list[int]]]


async def watch(s: Setup, leg: Leg, groups: Groups, alive: Callable[[], bool]) -> None:
    """Poll the receiver until ``leg.count`` pushes arrived; CPU between 5 % and 95 %."""
    count = leg.count
    marks = [max(1, int(count * WINDOW[0])), max(2, int(count * WINDOW[1]))]
    snaps: list[tuple[float, int, Snapshot]] = []
    deadline = time.monotonic() + max(60.0, count / 100)
    while True:
        got = int((await s.receiver.stats(s.http))["count"])
        while marks and got >= marks[0]:
            marks.pop(0)
            snaps.append((time.monotonic(), got, snapshot(groups())))
        if got >= count:
            break
        if not alive():
            raise RuntimeError(f"{leg.name}: the sender exited with {got} of {count} arrived")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{leg.name}: only {got} of {count} pushes arrived in time")
        await asyncio.sleep(0.02)
    (t0, n0, start), (t1, n1, end) = snaps[0], snaps[-1]
    leg.window_s, leg.window_deliveries = t1 - t0, n1 - n0
    leg.cpu = cpu_between(start, end)


async def settle(s: Setup, leg: Leg, ids: list[str]) -> None:
    """Wait (a bounded time) for ids still missing, then count lost and duplicates."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        log = await s.receiver.log(s.http)
        missing = set(ids) - set(log["ids"])
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    leg.received = len(log["ids"])
    leg.lost = len(missing)
    leg.duplicates = leg.received - len(set(log["ids"]))
    leg.rate = sustained_rate(log["times"])


async def telepush_leg(s: Setup, run: int) -> Leg:
    """Pre-load one ``telepush serve`` (SQLite) through the batch API, then drain it."""
    leg = Leg("telepush", s.count)
    data_dir = s.ws.root / f"telepush-{run}"
    api = await Telepush(s.ws, data_dir, name=f"api-{run}", worker=False).start(s.http)
    try:
        await put_customer(s.http, api, CUSTOMER, oauth2_customer(s.receiver, CUSTOMER))
        loaded = await load_batches(s.http, api, CUSTOMER, s.pool, count=s.count, batch=1000)
    finally:
        api.stop()
    leg.enqueue_rate = loaded.rate
    await s.receiver.reset(s.http)
    settings = {"per_endpoint_concurrency": s.args.concurrency}
    tp = Telepush(s.ws, data_dir, name=f"serve-{run}", settings=settings)
    await tp.start(s.http)
    try:
        # the serve process and its delivery processes (if any)
        await watch(
            s,
            leg,
            lambda: {"telepush": tree(tp.proc.pid), "receiver": [s.receiver.proc.pid]},
            tp.proc.alive,
        )
        await settle(s, leg, loaded.ids)
    finally:
        tp.stop()
    return leg


def peer_env(s: Setup, peer: str) -> dict[str, str]:
    assert s.broker is not None
    return {
        "PYTHONPATH": str(TASKS),
        "PEERS_REDIS_URL": s.broker.url,
        "PEERS_PUSH_URL": s.receiver.push_url(peer),
        "PEERS_TOKEN_URL": s.receiver.url + "/oauth/token",
        "PEERS_CA": str(s.ws.ca_pem),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def worker_args(s: Setup, peer: str) -> list[str]:
    assert s.python is not None
    bindir, a = s.python.parent, s.args
    if peer == "celery":
        return [
            str(bindir / "celery"),
            "-A",
            "celery_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(a.celery_concurrency),
            "--prefetch-multiplier",
            str(a.celery_prefetch),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    return [
        str(bindir / "dramatiq"),
        "dramatiq_app",
        "--processes",
        str(a.dramatiq_processes),
        "--threads",
        str(a.dramatiq_threads),
    ]


def peer_settings(args: argparse.Namespace, peer: str) -> str:
    if peer == "celery":
        return (
            f"prefork {args.celery_concurrency} processes, "
            f"prefetch multiplier {args.celery_prefetch}"
        )
    return f"{args.dramatiq_processes} processes × {args.dramatiq_threads} threads"


async def peer_leg(s: Setup, peer: str, run: int) -> Leg:
    """Enqueue every task into Redis, then start the workers and time the drain."""
    assert s.broker is not None and s.python is not None
    leg = Leg(peer, s.count)
    s.broker.flush()
    env = {**os.environ, **peer_env(s, peer)}
    ids_path = s.ws.root / f"{peer}-{run}-ids.json"
    args = [str(s.python), str(TASKS / "produce.py"), "--peer", peer, "--pool", str(s.pool_path)]
    args += ["--count", str(s.count), "--ids", str(ids_path)]
    done = await asyncio.to_thread(
        subprocess.run, args, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{peer} producer failed:\n{done.stdout[-1000:]}{done.stderr[-3000:]}")
    produced = json.loads(done.stdout.strip().splitlines()[-1])
    leg.enqueue_rate = produced["enqueued"] / produced["seconds"] if produced["seconds"] else 0.0
    ids: list[str] = json.loads(ids_path.read_text())
    await s.receiver.reset(s.http)
    name = f"{peer}-{run}"
    proc = Proc(name, worker_args(s, peer), s.ws.root / f"{name}.log", peer_env(s, peer))
    known: set[int] = set()

    def groups() -> dict[str, list[int]]:
        workers = tree(proc.pid)
        known.update(workers)
        assert s.broker is not None
        return {
            "worker main": workers[:1],
            "worker children": workers[1:],
            "broker": [s.broker.pid],
            "receiver": [s.receiver.proc.pid],
        }

    proc.start()
    try:
        await watch(s, leg, groups, proc.alive)
        await settle(s, leg, ids)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{proc.log_tail()}") from None
    finally:
        await asyncio.to_thread(stop_tree, proc, known)
    return leg


async def bare_leg(s: Setup) -> float:
    """The bare client's deliveries/s over the same bodies, in flight as telepush's limit."""
    return await bare_rate(
        s.ws, s.http, s.receiver, s.pool_path, count=s.count, concurrency=s.args.concurrency
    )


# ---- the scenario ---------------------------------------------------------------------------


def skip(reason: str, smoke: bool) -> None:
    print(f"{SCENARIO}: skipped the peers: {reason}")
    sys.stdout.flush()
    raise SystemExit(1 if smoke and "CI" in os.environ else 0)


async def measure(args: argparse.Namespace) -> report.Result:
    legs = [leg.strip() for leg in args.legs.split(",") if leg.strip()]
    if not legs or set(legs) - set(LEGS):
        raise SystemExit(f"--legs: choose among {', '.join(LEGS)}")
    if set(legs) != set(LEGS) and not (args.no_write or args.smoke):
        raise SystemExit("--legs with a subset of the legs needs --no-write")
    peers = [p for p in PEERS if p in legs]
    count = args.count or (300 if args.smoke else 20_000)
    started = time.monotonic()
    python, versions = peers_venv() if peers else (None, {})
    venv_s = time.monotonic() - started
    done: dict[str, list[Leg]] = {leg: [] for leg in legs}
    bare: list[float] = []  # the bare client's deliveries/s, one per run
    with workspace() as ws:
        broker: Broker | None = None
        if peers:
            broker, where = find_broker(args.redis, ws)
            if broker is None:
                skip(where, args.smoke)
            print(f"{SCENARIO}: broker: {where}", flush=True)
        try:
            pool = trip_pool(1000, 2048)
            pool_path = write_pool(ws.root / "trips.ndjson", pool)
            async with session() as http:
                receiver = await Receiver(ws).start(http)
                s = Setup(ws, http, receiver, broker, python, pool, pool_path, count, args)
                try:
                    order = [BARE, *legs]
                    for run in range(args.runs):
                        # Alternate the order, so a drifting neighbour's load favours no leg.
                        for name in order if run % 2 == 0 else order[::-1]:
                            if name == BARE:
                                bare.append(await bare_leg(s))
                                print(
                                    f"{SCENARIO}: run {run + 1}: {BARE_NAME}: "
                                    f"{bare[-1]:,.0f} deliveries/s",
                                    flush=True,
                                )
                                continue
                            if name == "telepush":
                                leg = await telepush_leg(s, run)
                            else:
                                leg = await peer_leg(s, name, run)
                            done[name].append(leg)
                            print(f"{SCENARIO}: run {run + 1}: {summary(leg)}", flush=True)
                finally:
                    receiver.stop()
        finally:
            if broker is not None:
                broker.flush()
                broker.stop()
    size = sum(map(len, pool)) / len(pool)
    return result(args, done, bare, count, size, versions, broker, venv_s)


def ceiling_shares(done: dict[str, list[Leg]], bare: list[float]) -> list[str]:
    """Each leg's deliveries/s as a share of the bare client's (medians), and what the
    5× target asks in those terms."""
    if not bare:
        return []
    ceiling = statistics.median(bare)
    parts = [
        f"{NAMES[name]} {statistics.median(leg.rate for leg in legs) / ceiling:.2f}"
        for name, legs in done.items()
        if legs
    ]
    lines = [f"{BARE_NAME}: {ceiling:,.0f} deliveries/s; share of it: " + ", ".join(parts)]
    peers = [p for p in PEERS if done.get(p)]
    if peers:
        runs = min(len(done[p]) for p in peers)
        best = statistics.median(max(done[p][i].rate for p in peers) for i in range(runs))
        lines.append(f"5× the best peer would be {5 * best / ceiling:.2f} of the {BARE_NAME}")
    return lines


def summary(leg: Leg) -> str:
    return (
        f"{NAMES[leg.name]}: {leg.rate:,.0f} deliveries/s, {leg.per_1000:.2f} CPU-s per 1,000, "
        f"delivered {leg.delivered:,}/{leg.count:,}, lost {leg.lost}, duplicates "
        f"{leg.duplicates}, enqueued at {leg.enqueue_rate:,.0f}/s"
    )


def result(
    args: argparse.Namespace,
    done: dict[str, list[Leg]],
    bare: list[float],
    count: int,
    size: float,
    versions: dict[str, str],
    broker: Broker | None,
    venv_s: float,
) -> report.Result:
    tp = done.get("telepush", [])
    peers = [p for p in PEERS if p in done]
    figures: list[report.Figure] = []
    if tp and peers:
        best = report.Figure(
            "deliveries/s vs the best peer",
            "/s",
            target=report.Target("ratio", ">=", 5.0, "≥ 5× the best peer"),
            baseline_name="the faster of Celery and Dramatiq in each run",
        )
        best.telepush = [leg.rate for leg in tp]
        best.baseline = [max(done[p][i].rate for p in peers) for i in range(len(tp))]
        figures.append(best)
    rate = {p: report.Figure(f"deliveries/s vs {NAMES[p]}", "/s") for p in peers}
    cpu = {p: report.Figure(f"CPU-s per 1,000 deliveries vs {NAMES[p]}", "s") for p in peers}
    lost = {
        p: report.Figure(
            f"lost vs {NAMES[p]}", "", target=report.Target("value", "==", 0, "= 0 (telepush)")
        )
        for p in peers
    }
    dups = {p: report.Figure(f"duplicates vs {NAMES[p]}", "") for p in peers}
    for p in peers:
        name = f"{NAMES[p]}, {peer_settings(args, p)}"
        rate[p].baseline_name = name + ", requests"
        cpu[p].baseline_name = f"{NAMES[p]} workers + redis-server"
        lost[p].baseline_name = dups[p].baseline_name = NAMES[p]
        for fig, of in ((rate[p], "rate"), (cpu[p], "per_1000"), (lost[p], "lost")):
            fig.telepush = [float(getattr(leg, of)) for leg in tp]
            fig.baseline = [float(getattr(leg, of)) for leg in done[p]]
        dups[p].telepush = [float(leg.duplicates) for leg in tp]
        dups[p].baseline = [float(leg.duplicates) for leg in done[p]]
    figures += [*rate.values(), *cpu.values(), *lost.values(), *dups.values()]
    if tp and bare:
        ceiling = report.Figure(
            f"deliveries/s vs the {BARE_NAME} (info)",
            "/s",
            baseline_name=f"{BARE_NAME}, {args.concurrency} in flight, no queue, no durability",
        )
        ceiling.telepush = [leg.rate for leg in tp]
        ceiling.baseline = bare
        figures.append(ceiling)
    if not peers:
        rate_tp = report.Figure("deliveries/s (telepush only)", "/s")
        rate_tp.telepush = [leg.rate for leg in tp]
        figures.append(rate_tp)
    notes = ["per leg (median of runs):"]
    for name, legs in done.items():
        med = sorted(legs, key=lambda leg: leg.rate)[len(legs) // 2]
        total_lost = sum(leg.lost for leg in legs)
        total_dups = sum(leg.duplicates for leg in legs)
        shares = ", ".join(
            f"{group} {sum(leg.cpu.get(group, 0.0) / leg.window_s for leg in legs) / len(legs):.2f}"
            for group in med.cpu
        )
        notes.append(
            f"  {NAMES[name]:<9} {med.rate:>7,.0f} deliveries/s  {med.per_1000:.2f} CPU-s/1,000 "
            f"(sender)  delivered {min(leg.delivered for leg in legs):,}/{count:,}  "
            f"lost {total_lost}  duplicates {total_dups} (all runs)  cores busy: {shares}"
        )
    notes += ceiling_shares(done, bare)
    notes.append(
        f"telepush: serve on SQLite (synchronous=FULL), per-endpoint limit {args.concurrency}, "
        "OAuth2; pre-loaded through the batch API"
    )
    for p in peers:
        notes.append(f"{NAMES[p]}: {peer_settings(args, p)}; task: requests.Session per thread")
    if versions:
        notes.append("peers venv: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        notes.append(f"peers venv check/creation: {venv_s:.1f} s")
    if broker is not None:
        notes.append(f"broker: {broker.persistence}, database {broker.db}")
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.peers",
        f"{count:,} trips of {size / 1024:.1f} KB per leg, {args.runs} run(s)",
        figures,
        notes=notes,
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
