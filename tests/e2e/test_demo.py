"""`telepush demo` from a user's side: one command tells the whole story and reports it."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import telepush_cmd

pytestmark = pytest.mark.e2e

EVENTS = 12
EXTRA_DELIVERED = 2 + 1 + 1 + 3  # two deletions, a crash, a crash report, three diagnoses


@dataclass
class DemoRun:
    directory: Path
    result: subprocess.CompletedProcess[str]

    @property
    def summary(self) -> dict[str, str]:
        line = next(x for x in self.result.stdout.splitlines() if x.startswith("summary: "))
        return dict(field.split("=", 1) for field in line.removeprefix("summary: ").split())


def _demo(directory: Path, *args: str, timeout_s: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        telepush_cmd("demo", "--dir", str(directory), *args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One real run of the demo, shared by the checks below."""
    directory = tmp_path_factory.mktemp("demo")
    result = _demo(directory, "--events", str(EVENTS), "--timeout", "90")
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return DemoRun(directory, result)


def _rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return list(conn.execute(sql))


def test_summary_reports_the_story(demo_run: DemoRun) -> None:
    """Every trip but the superseded one is delivered, some after retries, none failed."""
    summary = demo_run.summary
    assert summary["trips"] == str(EVENTS)
    assert summary["trips_delivered"] == str(EVENTS - 1)
    assert summary["superseded"] == "1"
    assert summary["failed"] == "0"
    assert summary["unfinished"] == "0"
    assert int(summary["retried"]) >= 1
    assert summary["deletions_delivered"] == "2"
    assert summary["delivered"] == str(EVENTS - 1 + EXTRA_DELIVERED)
    assert "Traceback" not in demo_run.result.stderr


def test_summary_says_where_to_look_next(demo_run: DemoRun) -> None:
    """The output names the token file, the database and a ready curl command."""
    out = demo_run.result.stdout
    token_file = demo_run.directory / "api-token"
    assert str(token_file) in out
    assert str(demo_run.directory / "telepush.db") in out
    assert f'curl -H "Authorization: Bearer $(cat {token_file})"' in out
    assert f"telepush --data-dir {demo_run.directory} deliveries list" in out


def test_token_and_databases_are_left_in_the_directory(demo_run: DemoRun) -> None:
    """The API token (0600), telepush's database and the receiver's stay for inspection."""
    token_file = demo_run.directory / "api-token"
    assert token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o077 == 0
    assert (demo_run.directory / "telepush.db").is_file()
    assert (demo_run.directory / "receiver.db").is_file()


def test_telepush_database_agrees_with_the_summary(demo_run: DemoRun) -> None:
    """telepush's own queue: one superseded trip (payload erased), the rest delivered."""
    rows = _rows(
        demo_run.directory / "telepush.db",
        "SELECT service, status, count(*), sum(p.seq IS NULL)"
        " FROM deliveries AS d LEFT JOIN payloads AS p ON p.seq = d.seq"
        " GROUP BY service, status",
    )
    counts = {(service, status): n for service, status, n, _ in rows}
    assert counts[("trip", "delivered")] == EVENTS - 1
    assert counts[("trip", "superseded")] == 1
    assert counts[("deleted-trip", "delivered")] == 2
    assert counts[("crash-report", "delivered")] == 1
    assert {status for _, status in counts} == {"delivered", "superseded"}
    erased = {(service, status): e for service, status, _, e in rows}
    assert erased[("trip", "superseded")] == 1


def test_receiver_holds_both_deletions(demo_run: DemoRun) -> None:
    """The receiver got one deletion for a trip it never saw and one for a stored trip."""
    receiver_db = demo_run.directory / "receiver.db"
    deletions = _rows(receiver_db, "SELECT trip_was_stored FROM deletions ORDER BY received_at")
    assert sorted(was_stored for (was_stored,) in deletions) == [0, 1]
    assert _rows(receiver_db, "SELECT count(*) FROM trips") == [(EVENTS - 2,)]
    reports = _rows(receiver_db, "SELECT count(*) FROM receipts WHERE service = 'crash-report'")
    assert reports == [(1,)]


def test_busy_port_is_a_one_line_error(tmp_path: Path) -> None:
    """A port already in use gives exit code 2 and one line on stderr, no traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _demo(tmp_path / "demo", "--port", str(port), timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "error:" in result.stderr and str(port) in result.stderr


def test_foreign_directory_is_refused(tmp_path: Path) -> None:
    """A non-empty directory the demo did not make is left alone: exit code 2."""
    (tmp_path / "notes.txt").write_text("mine")
    result = _demo(tmp_path, timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert "not made by telepush demo" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "telepush.db").exists()
