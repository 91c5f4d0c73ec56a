"""Scenario 8, scale-out on PostgreSQL: 1, 2 and 4 ``telepush worker`` processes draining the
same backlog of ~2 KB trips, as a ratio to one worker, with the CPU it costs.

    .venv/bin/python -m bench.scaleout [--smoke] [--count N] [--workers 1,2,4] [--runs R]

Each worker count gets a scratch database of its own on the PostgreSQL server named by
``--postgres`` (``CREATE DATABASE telepush_bench_<random>``, dropped afterwards, also on
failure), ``telepush migrate``, a ``telepush serve --no-worker`` that pre-loads the backlog
through the batch API and then stops, and then K workers started together. The rate is
measured at the receiver between the 5th and the 95th percentile of arrivals; CPU (user +
system, from ``/proc/<pid>/stat``) of the workers, the receiver and the PostgreSQL server
processes serving the scratch database (plus the server's own background processes) is
summed between the moments 5 % and 95 % of the backlog had arrived.

The backlog is spread over several customers because the per-endpoint limit is cluster-wide
and each claim takes that endpoint's advisory lock: with one customer, every worker would
queue on the same lock and share the same slots, and the figure would measure that limit,
not the workers. All workers share one ``TELEPUSH_SECRET_KEY``.

Skips (exit 0, with a message) when PostgreSQL is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict

from bench import report
from bench.load import load_batches, put_customer, session, trip_pool
from bench.measure import sustained_rate
from bench.procs import PYTHON, Proc, Receiver, Telepush, Workspace, oauth2_customer, workspace
from telepush.store.secrets import SecretBox

SCENARIO = "scaleout"
DEFAULT_URL = os.environ.get(
    "TELEPUSH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WINDOW = (0.05, 0.95)  # share of the backlog arrived when the CPU window opens and closes


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=None, help="events per worker count (30,000)")
    p.add_argument(
        "--workers", default=None, help="worker counts, comma-separated (1,2,4; smoke 1,2)"
    )
    p.add_argument("--customers", type=int, default=8, help="customers sharing the backlog")
    p.add_argument(
        "--per-endpoint",
        type=int,
        default=32,
        help="per-endpoint limit (cluster-wide); customers × this = slots for the whole cluster",
    )
    p.add_argument("--postgres", default=DEFAULT_URL, help="a database on the server to use")


# ---- PostgreSQL ---------------------------------------------------------------------------


def unreachable(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is unreachable: {exc}"
    return None


def database_url(server_url: str, database: str) -> str:
    """A ``postgresql://`` URL for ``database`` on the server of ``server_url``."""
    info = conninfo_to_dict(server_url)
    user = quote(str(info.get("user") or "postgres"), safe="")
    password = info.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or "5432"
    return f"postgresql://{auth}@{host}:{port}/{quote(database, safe='')}"


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database ``telepush_bench_<random>``, dropped afterwards (also on failure)."""
    name = f"telepush_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )


def server_pids(admin: psycopg.Connection[tuple[int]], database: str) -> list[int]:
    """Server processes that work for ``database``: its backends (and autovacuum), the
    background processes (WAL writer, checkpointer, …) and the postmaster. Not the backends
    of other databases: the server is shared."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE (datname = %s OR backend_type <> 'client backend')"
        " AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    pids = [int(row[0]) for row in rows]
    parents = {ppid for ppid in map(parent_pid, pids) if ppid is not None and ppid > 1}
    return pids + sorted(parents - set(pids))


# ---- CPU from /proc -----------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the 3rd (state) on


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (all its threads) so far; None if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a worker's delivery processes, a peer's pool)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = parent_pid(int(entry.name))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all CPUs, not idle nor iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS  # user … steal; guest is inside user


Snapshot = dict[str, dict[int, float]]  # group -> pid -> CPU seconds


def snapshot(groups: dict[str, list[int]]) -> Snapshot:
    out: Snapshot = {}
    for group, pids in groups.items():
        seen = {pid: cpu_seconds(pid) for pid in pids}
        out[group] = {pid: s for pid, s in seen.items() if s is not None}
    out["machine"] = {0: machine_busy_seconds()}
    return out


def cpu_between(start: Snapshot, end: Snapshot) -> dict[str, float]:
    """CPU seconds per group between two snapshots; a process new at ``end`` counts from 0
    (a backend that exited in between is not counted)."""
    return {
        group: sum(s - start.get(group, {}).get(pid, 0.0) for pid, s in pids.items())
        for group, pids in end.items()
        if group != "machine"
    }


# ---- one drain ----------------------------------------------------------------------------


@dataclass
class Drain:
    """One worker count's drain: rate at the receiver, and CPU over the window."""

    workers: int
    rate: float
    window_s: float
    window_deliveries: int
    cpu: dict[str, float] = field(default_factory=dict)  # group -> CPU seconds
    machine_cpu: float = 0.0  # every process on the machine, ours and others'
    lost: int = 0

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())

    @property
    def cores(self) -> float:
        return self.cpu_total / self.window_s if self.window_s > 0 else 0.0

    @property
    def per_1000(self) -> float:
        return 1000 * self.cpu_total / self.window_deliveries if self.window_deliveries else 0.0


@dataclass
class Setup:
    ws: Workspace
    http: aiohttp.ClientSession
    receiver: Receiver
    server_url: str
    secret_key: str
    pool: list[bytes]
    count: int
    customers: list[str]
    per_endpoint: int


def migrate(env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [PYTHON, "-m", "telepush", "migrate"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"telepush migrate failed:\n{log.read_text(errors='replace')[-3000:]}")


async def drain(s: Setup, workers: int, run: int) -> Drain:
    """Pre-load a scratch database, then let ``workers`` worker processes drain it."""
    tag = f"{run}-{workers}"
    with scratch_database(s.server_url) as database:
        settings = {
            "database_url": database_url(s.server_url, database),
            "secret_key": s.secret_key,
            "per_endpoint_concurrency": s.per_endpoint,
        }
        api = Telepush(s.ws, s.ws.root / f"data-{tag}", name=f"api-{tag}", worker=False)
        api.env.update({f"TELEPUSH_{k.upper()}": str(v) for k, v in settings.items()})
        await asyncio.to_thread(migrate, api.env, s.ws.root / f"migrate-{tag}.log")
        procs: list[Proc] = []
        try:
            await api.start(s.http)
            ids: list[str] = []
            share = s.count // len(s.customers)
            for customer in s.customers:
                await put_customer(s.http, api, customer, oauth2_customer(s.receiver, customer))
            loads = await asyncio.gather(
                *(
                    load_batches(
                        s.http,
                        api,
                        customer,
                        s.pool,
                        count=share + (s.count % len(s.customers) if n == 0 else 0),
                        batch=500,
                        concurrency=1,
                        offset=n * share,
                    )
                    for n, customer in enumerate(s.customers)
                )
            )
            for loaded in loads:
                ids.extend(loaded.ids)
            api.stop()
            await s.receiver.reset(s.http)
            env = {k: v for k, v in api.env.items() if k != "TELEPUSH_PORT"}
            for i in range(workers):
                name = f"worker-{tag}-{i}"
                proc = Proc(name, [PYTHON, "-m", "telepush", "worker"], s.ws.root / f"{name}.log")
                proc.env = env
                procs.append(proc.start())
            with psycopg.connect(s.server_url, autocommit=True) as admin:
                result = await watch(s, procs, admin, database, len(ids))
            log = await s.receiver.log(s.http)
        finally:
            for proc in procs:  # SIGTERM to all first, so they shut down together
                if proc.alive() and proc.popen is not None:
                    proc.popen.terminate()
            for proc in procs:
                proc.stop()
            api.stop()
    result.rate = sustained_rate(log["times"])
    result.lost = len(set(ids) - set(log["ids"]))
    result.workers = workers
    return result


async def watch(
    s: Setup,
    procs: list[Proc],
    admin: psycopg.Connection[tuple[int]],
    database: str,
    count: int,
) -> Drain:
    """Poll the receiver until ``count`` arrived; CPU between 5 % and 95 % of arrivals."""
    marks = [max(1, int(count * WINDOW[0])), max(2, int(count * WINDOW[1]))]
    snaps: list[tuple[float, int, Snapshot]] = []
    deadline = time.monotonic() + max(60.0, count / 200)
    while True:
        stats = await s.receiver.stats(s.http)
        got = int(stats["count"])
        while marks and got >= marks[0]:
            marks.pop(0)
            groups = {
                # with their delivery processes (started by the time 5 % have arrived)
                "workers": [pid for p in procs for pid in tree(p.pid)],
                "receiver": [s.receiver.proc.pid],
                "postgres": server_pids(admin, database),
            }
            snaps.append((time.monotonic(), got, snapshot(groups)))
        if got >= count:
            break
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {got} of {count} pushes arrived in time")
        await asyncio.sleep(0.02)
    (t0, n0, start), (t1, n1, end) = snaps[0], snaps[-1]
    machine = end["machine"][0] - start["machine"][0]
    return Drain(len(procs), 0.0, t1 - t0, n1 - n0, cpu_between(start, end), machine)


# ---- the scenario -------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> report.Result:
    reason = unreachable(args.postgres)
    if reason is not None:
        print(f"{SCENARIO}: skipped: {reason} (set --postgres or TELEPUSH_TEST_POSTGRES_URL)")
        sys.stdout.flush()
        raise SystemExit(0)
    count = args.count or (1_000 if args.smoke else 30_000)
    counts = [int(k) for k in (args.workers or ("1,2" if args.smoke else "1,2,4")).split(",")]
    if counts[0] != 1:
        counts = [1, *[k for k in counts if k != 1]]
    rate = {k: report.Figure(f"deliveries/s, {k} worker(s)", "/s") for k in counts}
    cores = {k: report.Figure(f"CPU busy while draining, {k} worker(s)", "cores") for k in counts}
    per_1000 = {k: report.Figure(f"CPU-s per 1,000 deliveries, {k} worker(s)", "s") for k in counts}
    for k in counts[1:]:
        rate[k].baseline_name = "1 worker, same run"
        per_1000[k].baseline_name = "1 worker, same run"
    drains: list[Drain] = []
    with workspace() as ws:
        pool = trip_pool(1000, 2048)
        async with session() as http:
            receiver = await Receiver(ws).start(http)
            try:
                setup = Setup(
                    ws,
                    http,
                    receiver,
                    args.postgres,
                    SecretBox.generate_key().decode(),
                    pool,
                    count,
                    [f"c{i}" for i in range(args.customers)],
                    args.per_endpoint,
                )
                for run in range(args.runs):
                    # Alternate the order, so a drifting neighbour's load favours no K.
                    order = counts if run % 2 == 0 else counts[::-1]
                    done = {k: await drain(setup, k, run) for k in order}
                    drains.extend(done.values())
                    for k in counts:
                        rate[k].telepush.append(done[k].rate)
                        cores[k].telepush.append(done[k].cores)
                        per_1000[k].telepush.append(done[k].per_1000)
                        if k != 1:
                            rate[k].baseline.append(done[1].rate)
                            per_1000[k].baseline.append(done[1].per_1000)
            finally:
                receiver.stop()
    size = sum(map(len, pool)) / len(pool)
    notes = [f"lost deliveries (accepted ids never received): {sum(d.lost for d in drains)}"]
    for k in counts:
        mine = [d for d in drains if d.workers == k]
        share = {
            group: sum(d.cpu.get(group, 0.0) / d.window_s for d in mine) / len(mine)
            for group in ("workers", "receiver", "postgres")
        }
        share["whole machine"] = sum(d.machine_cpu / d.window_s for d in mine) / len(mine)
        notes.append(
            f"{k} worker(s), cores busy by part (mean of runs): "
            + ", ".join(f"{group} {value:.2f}" for group, value in share.items())
        )
    notes.append(
        f"telepush: {args.customers} customers with OAuth2, per-endpoint limit "
        f"{args.per_endpoint} (cluster-wide: {args.customers * args.per_endpoint} slots in all), "
        "max_in_flight 256 and claim batch 200 per worker; PostgreSQL shared, "
        f"{os.cpu_count()} CPUs shared by workers, receiver and server"
    )
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.scaleout",
        f"{count:,} trips of {size / 1024:.1f} KB over {args.customers} customers, "
        f"K = {', '.join(map(str, counts))} workers, {args.runs} run(s)",
        [*rate.values(), *cores.values(), *per_1000.values()],
        notes=notes,
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
