"""Delivery processes (``delivery_processes`` > 0), end to end: `telepush serve` posts through
child processes over real HTTPS; tokens stay shared; a killed child costs one retried
attempt, not a delivery; no child outlives its parent."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import StartReceiver, StartTelepush, Telepush, oauth2_customer
from tests.support.procs import delivery_processes, wait_until

pytestmark = pytest.mark.e2e


def started(
    tp: Telepush, count: int, *, not_: int | None = None, timeout_s: float = 10
) -> list[int]:
    """Wait for ``count`` delivery processes of ``tp`` (none of them ``not_``)."""
    assert tp.proc.proc is not None
    pid = tp.proc.proc.pid
    return wait_until(
        lambda: len(found := [c for c in delivery_processes(pid) if c != not_]) == count and found,
        timeout_s=timeout_s,
        what=f"{count} delivery process(es) of {pid}",
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_pushes_go_out_through_the_delivery_processes_with_one_token(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush(delivery_processes=2)
    children = started(tp, 2)
    tp.put_customer("acme", oauth2_customer(rec))
    ids = [tp.push("acme", "trip", {"itinId": f"t{i}", "n": i}) for i in range(40)]
    for delivery_id in ids:
        done = tp.wait_status(delivery_id, "delivered")
        assert [a["statusCode"] for a in done["attempts"]] == [200]
    log = rec.requests()
    pushed = [r for r in log if r["path"] == "/push/trip"]
    assert sorted(r["headers"]["telepush-delivery-id"] for r in pushed) == sorted(ids)
    assert all(r["authScheme"].lower() == "bearer" for r in pushed)
    # tokens are fetched by the serve process and shared: one for all, whoever posted
    assert len([r for r in log if r["path"] == "/oauth/token"]) == 1
    assert started(tp, 2) == children  # none died on the way


def open_files(pid: int) -> set[str]:
    """What ``pid``'s open file descriptors point at. A descriptor closed between listing
    the directory and reading its link is skipped: the process is running."""
    targets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.add(os.readlink(fd))
        except FileNotFoundError:
            continue
    return targets


def test_a_large_trip_is_read_from_the_store_by_the_delivery_process(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A 1 MB trip is not copied through serve: the delivery process reads it from the
    SQLite file itself, and it arrives byte for byte; a small trip comes with the claim."""
    rec = start_receiver()
    tp = start_telepush(delivery_processes=1)
    [child] = started(tp, 1)
    tp.put_customer("acme", oauth2_customer(rec))
    store_file = str((tp.data_dir / "telepush.db").resolve())
    small = {"itinId": "small", "n": 1}
    tp.wait_status(tp.push("acme", "trip", small), "delivered")
    assert store_file not in open_files(child)
    large = {"itinId": "large", "sensors": [[i, i * 0.5, "48.8566"] for i in range(40_000)]}
    body = json.dumps(large).encode()
    assert len(body) > 1_000_000
    done = tp.wait_status(tp.push("acme", "trip", body), "delivered")
    assert [a["statusCode"] for a in done["attempts"]] == [200]
    assert rec.get("/trips/large") == large
    assert rec.get("/trips/small") == small
    assert store_file in open_files(child)  # read-only: its connection stays open


def sockets(pid: int) -> set[str]:
    """The socket inodes ``pid`` holds open."""
    return {target for target in open_files(pid) if target.startswith("socket:")}


def test_a_delivery_process_holds_none_of_serve_s_sockets(start_telepush: StartTelepush) -> None:
    """Only its end of the socket pair: not the API's listening socket (inheritable), so a
    child never keeps serve's port bound."""
    tp = start_telepush(delivery_processes=1)
    assert tp.proc.proc is not None
    pid = tp.proc.proc.pid
    [child] = started(tp, 1)
    # (it closes them as it starts: right after the fork it still has them)
    wait_until(
        lambda: not sockets(child) & sockets(pid),
        timeout_s=10,
        what="the delivery process to hold none of serve's sockets",
    )


def test_a_killed_delivery_process_costs_one_attempt_and_is_started_again(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    rec = start_receiver()
    tp = start_telepush(delivery_processes=1)
    [child] = started(tp, 1)
    tp.put_customer("acme", oauth2_customer(rec))
    # the receiver stores the push, then holds its answer: the request is in the child
    rec.control("POST", "faults", {"path": "/push/trip", "status": None, "times": 1, "delayS": 30})
    delivery_id = tp.push("acme", "trip", {"itinId": "t-1"})
    wait_until(
        lambda: "t-1" in rec.get("/trips")["items"], timeout_s=10, what="the push to be stored"
    )
    os.kill(child, signal.SIGKILL)
    done = tp.wait_status(delivery_id, "delivered", timeout_s=20)
    first, second = done["attempts"]
    assert first["error"] == "connect" and "delivery process stopped" in first["detail"]
    assert second["statusCode"] == 200
    [again] = started(tp, 1, not_=child)
    assert again != child
    assert "delivery process 0 exited" in tp.proc.log()


def test_a_delivery_process_that_stops_answering_is_replaced(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A delivery process that is alive but answers nothing (here: stopped by SIGSTOP) is
    killed after 10 s without an answer, and what it held is retried through a new one."""
    rec = start_receiver()
    tp = start_telepush(delivery_processes=1)
    tp.put_customer("acme", oauth2_customer(rec))
    [child] = started(tp, 1)
    os.kill(child, signal.SIGSTOP)
    try:
        delivery_id = tp.push("acme", "trip", {"itinId": "t-1"})
        [again] = started(tp, 1, not_=child, timeout_s=30)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
    assert again != child and not alive(child)
    done = tp.wait_status(delivery_id, "delivered", timeout_s=20)
    first, second = done["attempts"]
    assert first["error"] == "connect" and "delivery process stopped" in first["detail"]
    assert second["statusCode"] == 200
    assert "has not answered for" in tp.proc.log()


def test_delivery_processes_end_with_serve_even_when_it_is_killed(
    start_telepush: StartTelepush,
) -> None:
    graceful = start_telepush("graceful", delivery_processes=2)
    killed = start_telepush("killed", delivery_processes=2)
    children_of = [started(tp, 2) for tp in (graceful, killed)]
    assert graceful.proc.stop() == 0
    killed.proc.kill9()  # its children see their socket close, and exit
    for children in children_of:
        wait_until(
            lambda children=children: not any(alive(c) for c in children),
            timeout_s=10,
            what="the delivery processes to exit",
        )


@pytest.mark.parametrize("processes", [1, 2])
def test_the_per_endpoint_limit_holds_in_the_delivery_processes(
    start_receiver: StartReceiver, start_telepush: StartTelepush, processes: int
) -> None:
    """Every leased delivery is handed over to the delivery processes, which send at most
    per_endpoint_concurrency of them at a time together (each its share); the rest wait
    there, and go out as replies come in."""
    rec = start_receiver()
    tp = start_telepush(delivery_processes=processes, per_endpoint_concurrency=2)
    tp.put_customer("acme", oauth2_customer(rec))
    # each push is stored at once and answered 2 s later
    rec.control("POST", "faults", {"path": "/push/trip", "status": None, "times": 6, "delayS": 2})
    ids = [tp.push("acme", "trip", {"itinId": f"t{i}"}) for i in range(6)]
    wait_until(lambda: len(rec.get("/trips")["items"]) == 2, timeout_s=10, what="two pushes stored")
    # the worker has leased the limit and twice as many ahead (SQLite): all sending
    sending = tp.call("GET", "/v1/deliveries?customer=acme&status=sending&limit=100").json()
    assert len(sending["items"]) == 6
    time.sleep(1.0)  # well inside the first replies' 2 s: nothing more may go out
    assert len(rec.get("/trips")["items"]) == 2
    wait_until(
        lambda: len(rec.get("/trips")["items"]) == 4, timeout_s=10, what="the next two pushes"
    )
    for delivery_id in ids:
        done = tp.wait_status(delivery_id, "delivered", timeout_s=20)
        [attempt] = done["attempts"]
        assert attempt["statusCode"] == 200
        # the exchange's 2 s, not the wait for the endpoint's turn (up to 4 s more)
        assert 1900 <= attempt["durationMs"] < 3500, attempt


def test_a_graceful_stop_releases_what_waits_in_the_delivery_process(
    start_receiver: StartReceiver, start_telepush: StartTelepush, tmp_path: Path
) -> None:
    """Deliveries waiting in the delivery process for their endpoint's slot when `serve`
    stops go back to the queue unsent, and are delivered after a restart."""
    rec = start_receiver()
    data_dir = tmp_path / "data"
    tp = start_telepush(data_dir=data_dir, delivery_processes=1, per_endpoint_concurrency=1)
    tp.put_customer("acme", oauth2_customer(rec))
    rec.control("POST", "faults", {"path": "/push/trip", "status": None, "times": 1, "delayS": 30})
    first = tp.push("acme", "trip", {"itinId": "t0"})
    wait_until(lambda: rec.get("/trips")["items"] == ["t0"], timeout_s=10, what="t0 stored")
    waiting = [tp.push("acme", "trip", {"itinId": f"t{i}"}) for i in (1, 2)]
    wait_until(
        lambda: all(tp.delivery(d)["status"] == "sending" for d in waiting),
        timeout_s=10,
        what="the next two to be leased",
    )
    assert tp.proc.stop() == 0  # the grace period (3 s) ends before t0's reply
    assert rec.get("/trips")["items"] == ["t0"]  # the waiting ones never went out
    again = start_telepush("again", data_dir=data_dir, delivery_processes=1)
    for delivery_id in waiting:
        done = again.wait_status(delivery_id, "delivered", timeout_s=20)
        assert [a["statusCode"] for a in done["attempts"]] == [200]  # released unsent
    assert again.wait_status(first, "delivered", timeout_s=20)["attempts"][-1]["statusCode"] == 200
