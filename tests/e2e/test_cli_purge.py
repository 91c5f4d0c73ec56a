"""`telepush purge` as an operator runs it, against a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telepush.config import load_settings
from telepush.domain.delivery import Attempt, Outcome, Status
from telepush.runtime import opened_store
from telepush.testing import FakeClock, make_customer_config, make_payload, new_delivery
from tests.support.procs import telepush_cmd

pytestmark = pytest.mark.e2e

MARKER = "PURGE-CLI-MARK-0b7e"


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TELEPUSH_DATA_DIR": str(data_dir), "COLUMNS": "200", **env}
    return subprocess.run(
        telepush_cmd(*args), env=full_env, capture_output=True, text=True, timeout=60
    )


async def _seed(data_dir: Path) -> tuple[str, str]:
    """A delivery delivered 40 days ago and one delivered now; their ids."""
    settings = load_settings(data_dir=data_dir)
    ids = []
    async with opened_store(settings, migrate=True) as store:
        now = datetime.now(UTC)
        await store.put_customer("acme", make_customer_config(), now)
        for clock in (FakeClock(now - timedelta(days=40)), FakeClock(now)):
            body = make_payload("trip", firstname=MARKER)
            item = new_delivery("acme", "trip", body, created_at=clock.now())
            await store.enqueue([item])
            [claimed] = await store.claim(
                now=clock.now(), worker_id="w", lease_s=60, per_endpoint_limit=10, limit=10
            )
            attempt = Attempt(claimed.attempt_number, clock.now(), 200, None, 4)
            await store.record(
                [
                    Outcome(
                        claimed.delivery_id,
                        attempt,
                        Status.DELIVERED,
                        customer_id="acme",
                        service="trip",
                    )
                ],
                worker_id="w",
            )
            ids.append(item.delivery_id)
    return ids[0], ids[1]


def _payload_count(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM payloads").fetchone()[0])


def test_purge_erases_what_retention_says_and_says_so(tmp_path: Path) -> None:
    old, _recent = asyncio.run(_seed(tmp_path))
    db = tmp_path / "telepush.db"
    assert _payload_count(db) == 2

    out = cli(tmp_path, "purge")

    assert out.returncode == 0, out.stderr
    assert "erased 1 payload(s)" in out.stdout
    assert "removed 0 delivery record(s)" in out.stdout
    assert "database compacted" in out.stdout
    assert MARKER not in out.stdout + out.stderr
    assert _payload_count(db) == 1
    with closing(sqlite3.connect(db)) as conn:
        (erased,) = conn.execute(
            "SELECT count(*) FROM payloads AS p JOIN deliveries AS d ON d.seq = p.seq"
            " WHERE d.delivery_id = ?",
            (old,),
        ).fetchone()
    assert erased == 0

    # A shorter delivered retention reaches the recent one too; the records stay.
    again = cli(tmp_path, "purge", TELEPUSH_RETENTION_DELIVERED_DAYS="0.00001")
    assert again.returncode == 0, again.stderr
    assert "erased 1 payload(s)" in again.stdout
    assert _payload_count(db) == 0
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("telepush.db*"))
    assert MARKER.encode() not in raw


def test_purge_refuses_contradictory_retention_settings(tmp_path: Path) -> None:
    out = cli(tmp_path, "purge", TELEPUSH_RETENTION_METADATA_DAYS="10")
    assert out.returncode == 2
    assert "retention_metadata_days" in out.stderr and "retention_failed_days" in out.stderr
    assert "Traceback" not in out.stderr


def test_purge_help_explains_retention_and_its_settings(tmp_path: Path) -> None:
    out = cli(tmp_path, "purge", "--help")
    assert out.returncode == 0
    for name in (
        "retention_delivered_days",
        "retention_failed_days",
        "retention_metadata_days",
        "TELEPUSH_RETENTION_INTERVAL_S",
    ):
        assert name in out.stdout, name
