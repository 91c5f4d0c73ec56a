"""The processes of a benchmark: a workspace with a test CA, the receiver, telepush, the
baseline client. Everything listens on 127.0.0.1 and lives in a temporary directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import trustme

API_TOKEN = "bench-api-token"
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Workspace:
    """A temporary directory with a fresh CA and a certificate for 127.0.0.1."""

    root: Path
    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_pem))


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="telepush-bench-") as tmp:
        root = Path(tmp)
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        ws = Workspace(root, root / "ca.pem", root / "server.pem", root / "server.key")
        ca.cert_pem.write_to_path(str(ws.ca_pem))
        server.private_key_pem.write_to_path(str(ws.key_pem))
        for i, pem in enumerate(server.cert_chain_pems):
            pem.write_to_path(str(ws.cert_pem), append=i > 0)
        yield ws


@dataclass
class Proc:
    """A child process whose output goes to a log file."""

    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    def memory_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in KiB: resident memory now and its peak."""
        fields: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    fields[name] = int(value.split()[0])
        return fields.get("VmRSS", 0), fields.get("VmHWM", 0)

    def kill9(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)
        self._close_log()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


async def wait_for(
    session: aiohttp.ClientSession,
    url: str,
    proc: Proc,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Until ``url`` answers (any status), or fail showing the process's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        try:
            async with session.get(url, ssl=ssl_context or False) as response:
                await response.read()
                return
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout_s}s")


class Receiver:
    """The fast receiver (``bench.receiver``) in its own process."""

    def __init__(self, ws: Workspace, name: str = "receiver", hang: tuple[str, ...] = ()) -> None:
        self.ws = ws
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ctx = ws.client_context()
        args = [PYTHON, "-m", "bench.receiver", "--port", str(self.port)]
        args += ["--cert", str(ws.cert_pem), "--key", str(ws.key_pem)]
        if hang:
            args += ["--hang", ",".join(hang)]
        self.proc = Proc(name, args, ws.root / f"{name}.log")

    async def start(self, session: aiohttp.ClientSession) -> Receiver:
        self.proc.start()
        await wait_for(session, self.url + "/_stats", self.proc, ssl_context=self.ctx)
        return self

    def push_url(self, customer: str, service: str = "trip") -> str:
        return f"{self.url}/push/{customer}/{service}"

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(self.url + "/_stats", ssl=self.ctx) as response:
            data: dict[str, Any] = await response.json()
            return data

    async def log(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(self.url + "/_log", ssl=self.ctx) as response:
            data: dict[str, Any] = await response.json()
            return data

    async def reset(self, session: aiohttp.ClientSession) -> None:
        async with session.post(self.url + "/_reset", ssl=self.ctx) as response:
            await response.read()

    async def wait_count(
        self,
        session: aiohttp.ClientSession,
        count: int,
        *,
        timeout_s: float,
        customers: tuple[str, ...] | None = None,
        every_s: float = 0.1,
    ) -> dict[str, Any]:
        """Poll until ``count`` pushes (of ``customers``, if given) arrived; the last stats."""
        deadline = time.monotonic() + timeout_s
        while True:
            stats = await self.stats(session)
            if customers is None:
                got = int(stats["count"])
            else:
                got = sum(int(stats["byCustomer"].get(c, 0)) for c in customers)
            if got >= count:
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {got} of {count} pushes arrived within {timeout_s}s")
            if not self.proc.alive():
                raise RuntimeError(f"receiver died:\n{self.proc.log_tail()}")
            await asyncio.sleep(every_s)

    def stop(self) -> None:
        self.proc.stop()


class Telepush:
    """One ``telepush serve`` process on a SQLite file in the workspace."""

    def __init__(
        self,
        ws: Workspace,
        data_dir: Path,
        *,
        name: str = "telepush",
        worker: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.ws = ws
        self.data_dir = data_dir
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "TELEPUSH_DATA_DIR": str(data_dir),
            "TELEPUSH_API_TOKEN": API_TOKEN,
            "TELEPUSH_CA_BUNDLE": str(ws.ca_pem),
            "TELEPUSH_ALLOW_PRIVATE_NETWORKS": "true",
            "TELEPUSH_PORT": str(self.port),
            "TELEPUSH_LOG_LEVEL": "warning",
            **{f"TELEPUSH_{k.upper()}": str(v) for k, v in (settings or {}).items()},
        }
        args = [PYTHON, "-m", "telepush", "serve"] + ([] if worker else ["--no-worker"])
        self.proc = Proc(name, args, ws.root / f"{name}.log", self.env)

    async def start(self, session: aiohttp.ClientSession) -> Telepush:
        self.proc.log_path = self.ws.root / f"{self.name}.log"
        self.proc.start()
        await wait_for(session, self.url + "/healthz", self.proc)
        return self

    def stop(self) -> None:
        self.proc.stop()


class Sink:
    """The ingest baseline (``bench.sink``) in its own process."""

    def __init__(self, ws: Workspace, name: str = "sink") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [PYTHON, "-m", "bench.sink", "--port", str(self.port)]
        self.proc = Proc(name, args, ws.root / f"{name}.log")

    async def start(self, session: aiohttp.ClientSession) -> Sink:
        self.proc.start()
        await wait_for(session, self.url + "/healthz", self.proc)
        return self

    def stop(self) -> None:
        self.proc.stop()


def oauth2_customer(receiver: Receiver, customer: str, **over: Any) -> dict[str, Any]:
    """A customer whose ``trip`` service pushes to ``receiver`` with OAuth2, fast retries."""
    config: dict[str, Any] = {
        "name": f"Bench {customer}",
        "auth": {
            "type": "oauth2",
            "url": receiver.url + "/oauth/token",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
        },
        "services": {
            "trip": {
                "url": receiver.push_url(customer),
                "retry": {"delays": ["1s"], "thenEvery": "1s", "jitter": 0},
            }
        },
    }
    config.update(over)
    return config


def run_bare_client(
    ws: Workspace,
    receiver: Receiver,
    pool_path: Path,
    *,
    count: int,
    concurrency: int = 16,
    rate: float = 0.0,
    record: Path | None = None,
    customer: str = "bare",
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Run ``bench.bareclient`` in its own process; its JSON summary."""
    args = [PYTHON, "-m", "bench.bareclient", "--url", receiver.push_url(customer)]
    args += ["--ca", str(ws.ca_pem), "--pool", str(pool_path)]
    args += ["--token-url", receiver.url + "/oauth/token", "--count", str(count)]
    args += ["--concurrency", str(concurrency), "--rate", str(rate)]
    if record is not None:
        args += ["--record", str(record)]
    done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bare client failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result
