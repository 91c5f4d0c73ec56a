"""Scale-out on PostgreSQL, end to end: one API process and three worker processes share one
database and deliver to a receiver kit over HTTPS.

Each test gets a scratch database (on the shared server, or on a private cluster for the
restart test) and runs `telepush migrate` first. Every process connects with its own
``application_name``, so the tests can tell the processes' connections apart on the server
and map a delivery's ``lease_owner`` (``host:pid:…``) back to the worker that holds it.
Outcomes are checked at the receiver by delivery id, from its request log.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.e2e.conftest import (
    API_TOKEN,
    Receiver,
    StartReceiver,
    Telepush,
    oauth2_customer,
)
from tests.support.certs import CertFiles
from tests.support.pg import (
    POSTGRES_URL,
    PrivateCluster,
    backends_since,
    connections,
    create_database,
    database_url,
    private_cluster,
    query,
    scratch_database,
    started_at,
)
from tests.support.procs import (
    Process,
    free_port,
    request,
    telepush_cmd,
    wait_until,
)
from tests.support.procs import delivery_processes as delivery_processes_of

pytestmark = pytest.mark.e2e

EVENTS = 5_000  # the receiver's request log keeps the last 10,000 requests: room enough
CHUNK = 500
WORKERS = 3
DELETION_DATE = "2025-01-30T07:23:22.000+0000"
RECONNECT_S = 5.0  # how soon after the database is back every process must use it again
# What a worker's log shows when its database connections are lost.
OUTAGE_SIGNS = ("error connecting", "discarding closed connection", "claim failed")


# ---- the topology: one API process, N worker processes, one database ------------------------


@dataclass
class Topology:
    api: Telepush
    workers: list[Process]
    db_url: str  # the database, for direct reads by the test
    logs: dict[str, Path] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        resp = self.api.call("GET", "/v1/stats")
        assert resp.status == 200, resp.body[:300]
        return {str(k): int(v) for k, v in resp.json()["deliveries"].items()}

    def push_all(self, customer_id: str, service: str, docs: list[dict[str, Any]]) -> list[str]:
        """Queue ``docs`` through the batch API in chunks; the accepted delivery ids."""
        accepted: list[str] = []
        for start in range(0, len(docs), CHUNK):
            chunk = docs[start : start + CHUNK]
            resp = self.api.call("POST", f"/v1/customers/{customer_id}/push/{service}/batch", chunk)
            assert resp.status == 202, resp.body[:300]
            body = resp.json()
            assert body["accepted"] == len(chunk), body.get("rejected")
            accepted += [item["deliveryId"] for item in body["items"]]
        return accepted

    def leases(self) -> Counter[int]:
        """Live leases per worker pid."""
        rows = query(
            self.db_url,
            "SELECT lease_owner, count(*) FROM deliveries WHERE status = 'sending' "
            "AND due_at > now() GROUP BY lease_owner",
        )
        return Counter({owner_pid(owner): int(n) for owner, n in rows})

    def record_lease_holders(self) -> None:
        """From now on, note every worker that takes a lease (a trigger on the claim's
        ``UPDATE``, in this test's scratch database): sampling the live leases could miss a
        worker that held some only between two samples."""
        with psycopg.connect(self.db_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(_LEASE_HOLDERS_TRIGGER)

    def lease_holders(self) -> set[int]:
        """Pids of the workers that took a lease since ``record_lease_holders``."""
        rows = query(self.db_url, "SELECT owner FROM e2e_lease_holders")
        return {owner_pid(owner) for (owner,) in rows}

    def statuses(self, ids: list[str]) -> dict[str, str]:
        rows = query(
            self.db_url,
            "SELECT delivery_id, status FROM deliveries WHERE delivery_id = ANY(%s)",
            (ids,),
        )
        return {str(d): str(s) for d, s in rows}

    def worker_pids(self) -> set[int]:
        return {w.proc.pid for w in self.workers if w.proc is not None}


_LEASE_HOLDERS_TRIGGER = """
CREATE TABLE e2e_lease_holders (owner text PRIMARY KEY);
CREATE FUNCTION e2e_note_lease_holders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO e2e_lease_holders (owner)
  SELECT DISTINCT lease_owner FROM leased WHERE lease_owner IS NOT NULL
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER e2e_lease_holders AFTER UPDATE ON deliveries
REFERENCING NEW TABLE AS leased FOR EACH STATEMENT EXECUTE FUNCTION e2e_note_lease_holders();
"""


def owner_pid(lease_owner: str) -> int:
    """The pid in a worker id (``host:pid:random``)."""
    return int(lease_owner.split(":")[-2])


StartTopology = Callable[..., Topology]


def _settings_env(settings: dict[str, Any]) -> dict[str, str]:
    return {f"TELEPUSH_{k.upper()}": str(v) for k, v in settings.items()}


@pytest.fixture
def start_topology(certs: CertFiles, tmp_path: Path) -> Iterator[StartTopology]:
    """Start `telepush serve --no-worker` and N `telepush worker` processes on a database."""
    started: list[Process] = []

    def start(
        server_url: str, database: str, *, workers: int = WORKERS, **settings: Any
    ) -> Topology:
        common = {
            "TELEPUSH_API_TOKEN": API_TOKEN,
            "TELEPUSH_SECRET_KEY": Fernet.generate_key().decode(),  # shared by every process
            "TELEPUSH_CA_BUNDLE": str(certs.ca_pem),
            "TELEPUSH_ALLOW_PRIVATE_NETWORKS": "true",
            "TELEPUSH_POLL_INTERVAL_S": "0.2",
            "TELEPUSH_CONNECT_TIMEOUT_S": "2",
            "TELEPUSH_TOTAL_TIMEOUT_S": "5",
            "TELEPUSH_LEASE_S": "10",
            "TELEPUSH_SHUTDOWN_GRACE_S": "3",
            **_settings_env(settings),
        }

        def env_of(name: str) -> dict[str, str]:
            return {
                **common,
                "TELEPUSH_DATA_DIR": str(tmp_path / f"{name}-data"),
                "TELEPUSH_DATABASE_URL": database_url(server_url, database, application_name=name),
            }

        migrated = subprocess.run(
            telepush_cmd("migrate"),
            env={**os.environ, **env_of("migrate")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        db_url = database_url(server_url, database, application_name="e2e-test")
        logs: dict[str, Path] = {}

        def launch(name: str, args: list[str], env: dict[str, str]) -> Process:
            logs[name] = tmp_path / f"{name}.log"
            proc = Process(args, env, logs[name]).start()
            started.append(proc)
            return proc

        port = free_port()
        api_env = {**env_of("api"), "TELEPUSH_PORT": str(port)}
        api_proc = launch("api", telepush_cmd("serve", "--no-worker"), api_env)
        worker_procs = [
            launch(f"worker-{n}", telepush_cmd("worker"), env_of(f"worker-{n}"))
            for n in range(1, workers + 1)
        ]
        api = Telepush(f"http://127.0.0.1:{port}", api_proc, api_env, tmp_path / "api-data")
        wait_until(lambda: _api_answers(api), timeout_s=30, what="the API process to answer")
        for n, proc in enumerate(worker_procs, start=1):
            wait_until(
                partial(_connected, db_url, f"worker-{n}", proc),
                timeout_s=30,
                what=f"worker-{n} to connect to the database",
            )
        return Topology(api, worker_procs, db_url, logs)

    yield start
    for proc in started:
        proc.stop()


def _api_answers(api: Telepush) -> bool:
    if not api.proc.alive():
        raise AssertionError(f"the API process exited early:\n{api.proc.log()[-3000:]}")
    try:
        return request("GET", api.url + "/healthz", timeout_s=2).status == 200
    except OSError:
        return False


def _connected(db_url: str, name: str, proc: Process) -> bool:
    if not proc.alive():
        raise AssertionError(f"{name} exited early:\n{proc.log()[-3000:]}")
    return connections(db_url, name) > 0


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    """A private cluster that a test may stop and start; request it before
    ``start_topology`` so that the processes stop before it is removed."""
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture
def shared_database() -> Iterator[str]:
    """A scratch database on the shared server (skips without PostgreSQL, fails under CI)."""
    with scratch_database() as name:
        yield name


# ---- what the receiver saw -----------------------------------------------------------------


def slow_answers(rec: Receiver, path: str, delay_s: float) -> None:
    """From now on the receiver handles (and stores) each push normally, then answers late."""
    rec.control("POST", "faults", {"path": path, "status": None, "times": None, "delayS": delay_s})


def pushes(rec: Receiver, service: str) -> list[dict[str, Any]]:
    return [r for r in rec.requests() if r["path"] == f"/push/{service}"]


def delivery_id(entry: dict[str, Any]) -> str:
    return str(entry["headers"]["telepush-delivery-id"])


def received(entries: list[dict[str, Any]]) -> Counter[str]:
    """Delivery id -> how many times the receiver answered it 200."""
    return Counter(delivery_id(e) for e in entries if e["status"] == 200)


def duplicates(counts: Counter[str]) -> dict[str, int]:
    return {d: n for d, n in counts.items() if n > 1}


def trips(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"itinId": f"{prefix}-{i}", "userId": f"u-{i % 50}"} for i in range(count)]


def wait_all_delivered(
    topo: Topology, total: int, *, timeout_s: float = 120, every: Callable[[], None] | None = None
) -> None:
    def done() -> bool:
        if every is not None:
            every()
        return topo.stats().get("delivered", 0) >= total

    wait_until(done, timeout_s=timeout_s, every_s=0.25, what=f"{total} deliveries delivered")


# ---- the tests -----------------------------------------------------------------------------


def test_three_workers_deliver_5000_events_once_each_with_one_shared_token(
    shared_database: str, start_receiver: StartReceiver, start_topology: StartTopology
) -> None:
    """5,000 events through 3 worker processes: each reaches the receiver exactly once, every
    worker takes part, and the processes share one OAuth2 token."""
    rec = start_receiver()
    topo = start_topology(POSTGRES_URL, shared_database, per_endpoint_concurrency=48)
    topo.api.put_customer("acme", oauth2_customer(rec))

    topo.record_lease_holders()
    accepted = topo.push_all("acme", "trip", trips("trip", EVENTS))
    assert len(set(accepted)) == EVENTS
    wait_all_delivered(topo, EVENTS)

    counts = received(pushes(rec, "trip"))
    assert set(counts) == set(accepted), "the receiver did not get every accepted event"
    assert duplicates(counts) == {}, "an event was delivered twice without any lease expiry"
    assert all(e["status"] == 200 for e in pushes(rec, "trip"))
    stats = topo.stats()
    assert (stats["pending"], stats["sending"], stats["failed"]) == (0, 0, 0), stats
    holders = topo.lease_holders()
    assert holders == topo.worker_pids(), f"not every worker held leases: {holders}"
    # One token for the customer, found in the database by the other processes. Fetching is
    # not locked across processes, so two whose first pushes start within the same few
    # milliseconds could both fetch: at most 2 is allowed, 1 is the usual outcome.
    token_requests = [r for r in rec.requests() if r["path"] == "/oauth/token"]
    assert 1 <= len(token_requests) <= 2, token_requests


def test_kill_9_of_a_worker_its_leases_are_completed_by_the_others(
    shared_database: str, start_receiver: StartReceiver, start_topology: StartTopology
) -> None:
    """kill -9 of the worker holding leases: after the leases expire the other two send those
    deliveries again; everything is delivered, and only those can arrive twice."""
    max_in_flight = 32
    rec = start_receiver()
    slow_answers(rec, "*", 0.05)  # answered late: the kill lands mid-send
    topo = start_topology(
        POSTGRES_URL,
        shared_database,
        lease_s=8,
        total_timeout_s=3,
        connect_timeout_s=1,
        max_in_flight=max_in_flight,
        per_endpoint_concurrency=3 * max_in_flight,
    )
    topo.api.put_customer("acme", oauth2_customer(rec))
    total = 2_000
    accepted = topo.push_all("acme", "trip", trips("trip", total))

    wait_until(
        lambda: topo.stats()["delivered"] >= 200 and topo.leases(),
        what="deliveries under way",
    )
    leases = topo.leases()
    victim_pid = leases.most_common(1)[0][0]
    [victim] = [w for w in topo.workers if w.proc is not None and w.proc.pid == victim_pid]
    victim_name = f"worker-{topo.workers.index(victim) + 1}"
    victim.kill9()
    # Its connections are gone once the server noticed: no transaction of it can still commit.
    wait_until(
        lambda: connections(topo.db_url, victim_name) == 0,
        what="the killed worker's connections to close",
    )
    orphaned = {
        str(d)
        for (d,) in query(
            topo.db_url,
            "SELECT delivery_id FROM deliveries WHERE status = 'sending' "
            "AND split_part(lease_owner, ':', 2) = %s",
            (str(victim_pid),),
        )
    }
    assert orphaned, "the killed worker held no lease: the kill proved nothing"
    assert topo.stats()["delivered"] < total, "the kill came too late to prove anything"

    wait_all_delivered(topo, total, timeout_s=90)
    assert all(w.alive() for w in topo.workers if w is not victim)
    entries = pushes(rec, "trip")
    counts = received(entries)
    assert set(counts) == set(accepted)
    dupes = duplicates(counts)
    assert set(dupes) <= orphaned, "a delivery not leased by the killed worker came twice"
    assert set(dupes.values()) <= {2}, dupes
    assert len(dupes) <= max_in_flight, (
        f"{len(dupes)} duplicates; the killed worker held {len(orphaned)} leases"
    )
    # Each orphaned delivery was sent again, as a later attempt, by a surviving worker.
    resent = {
        delivery_id(e) for e in entries if e["status"] == 200 and int(e.get("attempt") or 0) >= 2
    }
    assert orphaned <= resent
    assert set(topo.statuses(sorted(orphaned)).values()) == {"delivered"}


@pytest.mark.parametrize("delivery_processes", [0, 1])
def test_per_endpoint_concurrency_holds_across_processes(
    shared_database: str,
    start_receiver: StartReceiver,
    start_topology: StartTopology,
    delivery_processes: int,
) -> None:
    """With a per-endpoint limit of 4 on each of 3 workers, a slow endpoint never has more
    than 4 deliveries in flight in all (not 12), seen by the API and by the receiver; also
    when each worker posts through a delivery process."""
    limit = 4
    rec = start_receiver()
    slow_answers(rec, "*", 0.3)
    topo = start_topology(
        POSTGRES_URL,
        shared_database,
        per_endpoint_concurrency=limit,
        delivery_processes=delivery_processes,
    )
    # `serve --no-worker` delivers nothing, so it starts no delivery process
    assert topo.api.proc.proc is not None
    assert delivery_processes_of(topo.api.proc.proc.pid) == []
    for worker in topo.workers:
        assert worker.proc is not None
        wait_until(
            lambda worker=worker: len(delivery_processes_of(worker.proc.pid)) == delivery_processes,
            timeout_s=10,
            what="each worker's delivery processes",
        )
    topo.api.put_customer("acme", oauth2_customer(rec))
    total = 120
    topo.record_lease_holders()
    accepted = topo.push_all("acme", "trip", trips("trip", total))

    sending: list[int] = []

    def sample() -> None:
        resp = topo.api.call("GET", "/v1/deliveries?status=sending&customer=acme&limit=1000")
        assert resp.status == 200, resp.body[:300]
        sending.append(len(resp.json()["items"]))

    wait_all_delivered(topo, total, timeout_s=60, every=sample)
    assert max(sending) <= limit, f"in flight at once: {max(sending)} > {limit}"
    assert max(sending) == limit, "the limit was never reached: the test proved nothing"
    holders = topo.lease_holders()
    assert len(holders) >= 2, f"only worker(s) {holders} ever held leases"
    entries = pushes(rec, "trip")
    assert set(received(entries)) == set(accepted)
    assert max_overlap(entries) <= limit


def max_overlap(entries: list[dict[str, Any]]) -> int:
    """The most requests the receiver was handling at once (from each entry's end time
    and duration)."""
    events: list[tuple[float, int]] = []
    for e in entries:
        end = datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()
        start = end - float(e["durationMs"]) / 1000
        events += [(start, 1), (end, -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda ev: (ev[0], ev[1])):  # ends before starts on ties
        running += step
        peak = max(peak, running)
    return peak


def test_deletion_wins_across_processes(
    shared_database: str, start_receiver: StartReceiver, start_topology: StartTopology
) -> None:
    """Deletions accepted by the API process while workers have trips in flight: pending trips
    are superseded, and no deletion reaches the receiver before its trip's push has ended."""
    rec = start_receiver()
    slow_answers(rec, "/push/trip", 0.3)
    topo = start_topology(POSTGRES_URL, shared_database, per_endpoint_concurrency=8)
    topo.api.put_customer("acme", oauth2_customer(rec))
    total = 200
    trip_ids = topo.push_all("acme", "trip", trips("trip", total))
    wait_until(lambda: topo.stats()["delivered"] >= 30, what="some trips delivered")
    in_flight = [
        str(d)
        for (d,) in query(
            topo.db_url, "SELECT delivery_id FROM deliveries WHERE status = 'sending'"
        )
    ]
    deletions = [
        {"itinId": f"trip-{i}", "event": "TRIP_DELETION", "date": DELETION_DATE}
        for i in range(total)
    ]
    deletion_ids = topo.push_all("acme", "deleted-trip", deletions)
    wait_until(
        lambda: set(topo.statuses(deletion_ids).values()) == {"delivered"},
        timeout_s=60,
        what="every deletion delivered",
    )
    wait_until(
        lambda: set(topo.statuses(trip_ids).values()) <= {"delivered", "superseded"},
        what="every trip delivered or superseded",
    )
    final = topo.statuses(trip_ids)
    superseded = [d for d, s in final.items() if s == "superseded"]
    assert superseded and len(superseded) < total, Counter(final.values())
    assert in_flight and all(final[d] == "delivered" for d in in_flight)
    erased = query(
        topo.db_url,
        "SELECT count(*) FROM deliveries AS d WHERE delivery_id = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM payloads AS p WHERE p.seq = d.seq)",
        (superseded,),
    )
    assert erased[0][0] == len(superseded)

    log = rec.requests()
    trip_pushes = [e for e in log if e["path"] == "/push/trip"]
    deletion_pushes = [e for e in log if e["path"] == "/push/deleted-trip"]
    assert not set(superseded) & {delivery_id(e) for e in trip_pushes}
    assert [e for e in trip_pushes if e.get("outcome") == "discarded"] == []
    # Each deletion's request began after every push of its trip had been answered (times
    # are the receiver's, to the millisecond; a violation would be off by up to 0.3 s).
    trip_end: dict[str, float] = {}
    for e in trip_pushes:
        trip_end[e["key"]] = max(trip_end.get(e["key"], 0.0), _end(e))
    for e in deletion_pushes:
        began = _end(e) - e["durationMs"] / 1000
        assert began >= trip_end.get(e["key"], 0.0) - 0.005, e
    assert set(received(deletion_pushes)) == set(deletion_ids)
    outcomes = Counter(e.get("outcome") for e in deletion_pushes if e["status"] == 200)
    assert outcomes["deleted"] and outcomes["recorded"], outcomes
    assert rec.get("/trips")["items"] == []


def _end(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()


def test_postgres_restart_mid_run_everything_delivered_afterwards(
    private_pg: PrivateCluster, start_receiver: StartReceiver, start_topology: StartTopology
) -> None:
    """PostgreSQL stopped and started again mid-run: every process reconnects by itself, every
    accepted event is delivered once, and nothing is left in `sending`."""
    rec = start_receiver()
    slow_answers(rec, "*", 0.02)
    topo = start_topology(
        private_pg.url,
        create_database(private_pg.url),
        lease_s=8,
        total_timeout_s=3,
        connect_timeout_s=1,
        per_endpoint_concurrency=48,
    )
    topo.api.put_customer("acme", oauth2_customer(rec))
    before = topo.push_all("acme", "trip", trips("before", 2_000))
    wait_until(lambda: topo.stats()["delivered"] >= 200, what="deliveries under way")

    private_pg.stop("fast")
    time.sleep(2)  # an outage of a couple of seconds, while the workers keep trying
    private_pg.start()
    restarted = started_at(topo.db_url)
    assert query(topo.db_url, "SELECT count(*) FROM deliveries WHERE status = 'pending'")[0][0]

    after = topo.push_all("acme", "trip", trips("after", 500))  # the API is back by itself
    accepted = before + after
    wait_all_delivered(topo, len(accepted), timeout_s=120)

    for name in topo.logs:
        if name != "migrate":
            wait_until(
                partial(backends_since, topo.db_url, name, restarted),
                what=f"{name} to connect again",
            )
    assert all(p.alive() for p in [topo.api.proc, *topo.workers])
    for n in range(1, len(topo.workers) + 1):
        log = topo.logs[f"worker-{n}"].read_text(errors="replace")
        assert any(sign in log for sign in OUTAGE_SIGNS), f"worker-{n} saw no outage:\n{log}"

    stuck = query(topo.db_url, "SELECT count(*) FROM deliveries WHERE status <> 'delivered'")
    assert stuck[0][0] == 0
    counts = received(pushes(rec, "trip"))
    assert set(counts) == set(accepted)
    assert duplicates(counts) == {}


def test_processes_reconnect_promptly_after_a_long_outage(
    private_pg: PrivateCluster, start_receiver: StartReceiver, start_topology: StartTopology
) -> None:
    """After a longer database outage every worker is connected again, and a new event is
    delivered, within a few seconds of the server's return."""
    rec = start_receiver()
    topo = start_topology(private_pg.url, create_database(private_pg.url))
    topo.api.put_customer("acme", oauth2_customer(rec))
    topo.push_all("acme", "trip", trips("before", 100))
    wait_all_delivered(topo, 100, timeout_s=60)

    private_pg.stop("fast")
    time.sleep(17)  # a long outage: the pool's reconnection delay grows meanwhile
    private_pg.start()
    restarted = started_at(topo.db_url)
    [late] = topo.push_all("acme", "trip", trips("after", 1))
    for n in range(1, len(topo.workers) + 1):
        wait_until(
            partial(backends_since, topo.db_url, f"worker-{n}", restarted),
            timeout_s=RECONNECT_S,
            what=f"worker-{n} to connect again within {RECONNECT_S} s",
        )
    topo.api.wait_status(late, "delivered", timeout_s=RECONNECT_S)
