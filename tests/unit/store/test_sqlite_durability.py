"""An enqueue that returned survives ``kill -9`` of the process at any moment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore

CHILD = """
import asyncio, os, sys
from telepush.store.secrets import SecretBox
from telepush.store.sqlite import SQLiteStore
from telepush.testing import FakeClock, make_customer_config, new_delivery

async def main() -> None:
    store = SQLiteStore(sys.argv[1], SecretBox(os.environ["TEST_SECRET_KEY"].encode()))
    await store.open()
    await store.migrate()
    await store.put_customer("acme", make_customer_config(), FakeClock().now())
    while True:
        items = [new_delivery("acme", "crash") for _ in range(4)]
        results = await asyncio.gather(*(store.enqueue([item]) for item in items))
        for [result] in results:
            print(result.delivery_id, flush=True)

asyncio.run(main())
"""

ENOUGH = 400


async def _stored_ids(path: Path, key: bytes, ids: list[str]) -> set[str]:
    store = SQLiteStore(path, SecretBox(key))
    await store.open()
    try:
        await store.check_schema()
        return {i for i in ids if await store.get_delivery(i) is not None}
    finally:
        await store.close()


def test_every_acknowledged_enqueue_survives_sigkill(tmp_path: Path) -> None:
    """Every id the child printed after enqueue returned is in the file after SIGKILL."""
    path = tmp_path / "durable.db"
    key = SecretBox.generate_key()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "TEST_SECRET_KEY": key.decode()},
    )
    assert child.stdout is not None
    printed: list[str] = []
    try:
        while len(printed) < ENOUGH:
            line = child.stdout.readline()
            assert line, f"the child stopped early (exit code {child.poll()})"
            printed.append(line.decode().strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    printed += rest.decode().split()
    assert child.returncode == -signal.SIGKILL
    assert len(printed) >= ENOUGH
    assert asyncio.run(_stored_ids(path, key, printed)) == set(printed)
