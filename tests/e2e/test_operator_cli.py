"""The operator's commands against a real SQLite file: replay failures with a progress bar,
follow tasks, read endpoint health, pause and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli
from tests.support.procs import Process, free_port, telepush_cmd, wait_until

pytestmark = pytest.mark.e2e

GIVE_UP_AT_ONCE = {"delays": [], "thenEvery": None, "jitter": 0}
CUSTOMER = {
    "customerId": "acme",
    "name": "Acme",
    "auth": {"type": "basic", "username": "acme", "password": "cli-pa55"},
    "services": {
        # Nothing listens on port 9: every attempt fails to connect.
        "trip": {"url": "https://127.0.0.1:9/push/trip", "retry": GIVE_UP_AT_ONCE},
        "crash": {"url": "https://127.0.0.1:9/push/crash", "retry": GIVE_UP_AT_ONCE},
    },
}
TRIPS = 40


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _failed(data: Path) -> list[dict]:
    out = cli(data, "deliveries", "list", "--status", "failed", "--limit", "1000", "--json")
    assert out.returncode == 0, out.stderr
    return _json_lines(out.stdout)


@pytest.fixture
def data_with_failures(tmp_path: Path) -> Path:
    """A data dir whose 40 trips to acme ended failed (a real server tried them)."""
    data = tmp_path / "data"
    (tmp_path / "acme.json").write_text(json.dumps(CUSTOMER))
    assert cli(data, "customers", "apply", str(tmp_path / "acme.json")).returncode == 0
    docs = "\n".join(json.dumps({"itinId": f"T-{i}"}) for i in range(TRIPS))
    assert cli(data, "push", "acme", "trip", "-", stdin=docs).returncode == 0
    env = {
        "TELEPUSH_DATA_DIR": str(data),
        "TELEPUSH_PORT": str(free_port()),
        "TELEPUSH_ALLOW_PRIVATE_NETWORKS": "true",
        "TELEPUSH_POLL_INTERVAL_S": "0.2",
    }
    server = Process(telepush_cmd("serve"), env, tmp_path / "serve.log").start()
    try:
        wait_until(lambda: len(_failed(data)) == TRIPS, timeout_s=60, what="every trip to fail")
    finally:
        assert server.stop() == 0
    return data


def test_retry_failed_with_progress_then_tasks_show_it(data_with_failures: Path) -> None:
    data = data_with_failures
    out = cli(data, "deliveries", "retry-failed", "acme", "trip", "--chunk", "7")
    assert out.returncode == 0, out.stderr
    assert f"{TRIPS} failed deliveries to re-queue" in out.stdout
    assert f"done: {TRIPS} re-queued" in out.stdout
    assert f"{TRIPS}/{TRIPS}" in out.stdout  # the progress bar's count
    assert _failed(data) == []
    pending = cli(data, "deliveries", "list", "--status", "pending", "--json", "--limit", "1000")
    assert len(_json_lines(pending.stdout)) == TRIPS

    listed = cli(data, "tasks", "list")
    assert listed.returncode == 0 and "acme" in listed.stdout and "done" in listed.stdout
    task_id = next(w.rstrip(":") for w in out.stdout.split() if w.count("-") == 4)
    shown = json.loads(cli(data, "tasks", "show", task_id).stdout)
    assert shown["nbDone"] == TRIPS and shown["status"] == "done" and shown["progress"] == 1.0
    missing = cli(data, "tasks", "show", "no-such-task")
    assert missing.returncode == 2 and "no task 'no-such-task'" in missing.stderr


def test_retry_failed_refusals(data_with_failures: Path) -> None:
    data = data_with_failures
    for args, message in (
        (("nobody", "trip"), "no customer 'nobody'"),
        (("acme", "diagnosis"), "no 'diagnosis' service"),
        (("acme", "teleport"), "teleport"),
        (("acme", "trip", "--from", "yesterday"), "--from"),
        (("acme", "trip", "--from", "2026-11-25T00:00:00"), "time zone"),
    ):
        out = cli(data, "deliveries", "retry-failed", *args)
        assert out.returncode != 0, args
        assert message in out.stderr, (args, out.stderr)
    assert len(_failed(data)) == TRIPS  # nothing was touched


def test_window_form_and_endpoint_pause_resume(data_with_failures: Path) -> None:
    data = data_with_failures
    out = cli(
        data, "deliveries", "retry-failed", "acme", "trip", "--from", "2000-01-01T00:00:00Z",
        "--to", "2000-01-02T00:00:00Z",
    )  # fmt: skip
    assert out.returncode == 0 and "0 failed deliveries to re-queue" in out.stdout
    assert len(_failed(data)) == TRIPS

    paused = cli(data, "endpoints", "pause", "acme", "trip")
    assert paused.returncode == 0 and "paused" in paused.stdout
    health = {e["service"]: e for e in _json_lines(cli(data, "endpoints", "list", "--json").stdout)}
    assert health["trip"]["paused"] == "manual" and health["crash"]["paused"] is None
    assert health["trip"]["failures"] == TRIPS and health["trip"]["lastSuccessAt"] is None
    assert health["trip"]["consecutiveFailures"] == TRIPS
    table = cli(data, "endpoints", "list")
    assert "paused (manual)" in table.stdout
    resumed = cli(data, "endpoints", "resume", "acme", "trip")
    assert resumed.returncode == 0 and "running" in resumed.stdout
    assert cli(data, "endpoints", "pause", "acme", "nothing").returncode != 0
    for command in ("tasks", "endpoints"):
        helped = cli(data, command, "--help")
        assert helped.returncode == 0 and "Usage" in helped.stdout
