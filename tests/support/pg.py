"""PostgreSQL for end-to-end tests: scratch databases on a shared server, and a private
throwaway cluster that a test may stop and start at will.

The shared server is named by ``TELEPUSH_TEST_POSTGRES_URL`` (default: the local ``test``
database, user ``postgres``). When it cannot be reached, tests skip, except when the ``CI``
environment variable is set: then they fail, so CI never passes without PostgreSQL. The same
rule applies to the server binaries (``initdb``, ``pg_ctl``) a private cluster needs; point
``TELEPUSH_TEST_PG_BINDIR`` at them when they are not in a usual place.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict

from tests.support.procs import free_port, wait_until

POSTGRES_URL = os.environ.get(
    "TELEPUSH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
OS_USER = "postgres"  # who runs a private cluster when the tests run as root


def missing(reason: str) -> NoReturn:
    """Skip for ``reason``; under CI (``CI`` set), fail instead."""
    if "CI" in os.environ:
        pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run)")
    pytest.skip(reason)


@cache
def _unreachable(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is unreachable: {exc}"
    return None


def require_server(url: str = POSTGRES_URL) -> None:
    """Skip (or fail under CI) when the server at ``url`` does not answer."""
    reason = _unreachable(url)
    if reason is not None:
        missing(reason)


def database_url(server_url: str, database: str, **params: str) -> str:
    """A ``postgresql://`` URL for ``database`` on the server of ``server_url``, with
    ``params`` (such as ``application_name``) as query parameters."""
    info = conninfo_to_dict(server_url)
    user = quote(str(info.get("user") or OS_USER), safe="")
    password = info.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or "5432"
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{auth}@{host}:{port}/{quote(database, safe='')}{query}"


def create_database(server_url: str, prefix: str = "telepush_e2e") -> str:
    """A new, empty database on the server of ``server_url``; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )


@contextlib.contextmanager
def scratch_database(server_url: str = POSTGRES_URL) -> Iterator[str]:
    """The name of a new database on the shared server, dropped afterwards."""
    require_server(server_url)
    name = create_database(server_url)
    try:
        yield name
    finally:
        drop_database(server_url, name)


def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """The rows of one read-only statement, on a connection of its own."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def connections(url: str, application_name: str) -> int:
    """Open connections of ``application_name`` to the server of ``url``."""
    rows = query(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
        (application_name,),
    )
    return int(rows[0][0])


def backends_since(url: str, application_name: str, since: datetime) -> int:
    """Connections of ``application_name`` opened at or after ``since`` (server clock)."""
    rows = query(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND backend_start >= %s",
        (application_name, since),
    )
    return int(rows[0][0])


def started_at(url: str) -> datetime:
    """When the server (last) started."""
    rows = query(url, "SELECT pg_postmaster_start_time()")
    when: datetime = rows[0][0]
    return when


# ---- a private cluster --------------------------------------------------------------------


def _bindir() -> Path | None:
    configured = os.environ.get("TELEPUSH_TEST_PG_BINDIR")
    candidates = [Path(configured)] if configured else []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    return next((d for d in candidates if (d / "initdb").is_file()), None)


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of its own in a temporary directory, on a free local port, with
    trust authentication for user ``postgres`` on 127.0.0.1 only. Runs as the ``postgres``
    OS user when the tests run as root (the server refuses to run as root)."""

    bindir: Path
    root: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """The maintenance database; ``database_url(cluster.url, name)`` for another."""
        return database_url(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", "postgres")

    def _run(self, *args: str, timeout_s: float = 60.0) -> None:
        argv = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            argv = ["su", OS_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise AssertionError(
                f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}\n"
                f"{self.log_tail()}"
            )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-instructions",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, "-w", "start"
        )
        wait_until(lambda: _unreachable_now(self.url) is None, what="the private cluster")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()


def _unreachable_now(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster, stopped and removed afterwards (also on failure)."""
    bindir = _bindir()
    if bindir is None or not (bindir / "pg_ctl").is_file():
        missing("no PostgreSQL server binaries (initdb, pg_ctl); set TELEPUSH_TEST_PG_BINDIR")
    root = Path(tempfile.mkdtemp(prefix="telepush-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER, OS_USER)
    os.chmod(root, 0o700)
    cluster = PrivateCluster(bindir, root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
