"""The peers' side of scenario 2: their virtual environment and their Redis broker.

The peers (Celery, Dramatiq, and the Redis client and requests their tasks use) live in a
virtual environment of their own, ``bench/.peers-venv``, created on the first run and then
reused; they are never project dependencies. The broker is spoken to over a plain socket
(the project's environment has no Redis client).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from bench.procs import Proc, Workspace, free_port

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peers-venv"
# Current releases when this scenario was written; the peers' own dependencies (kombu,
# billiard, urllib3, …) resolve from these and are printed with each run.
PINS = ("celery[redis]==5.7.0", "dramatiq[redis]==2.2.1", "redis==8.1.0", "requests==2.34.2")
STAMP = "telepush-bench-pins.txt"
REPORTED = ("celery", "kombu", "billiard", "dramatiq", "redis", "requests", "urllib3")


# ---- the peers' virtual environment --------------------------------------------------------


def peers_venv(path: Path = VENV) -> tuple[Path, dict[str, str]]:
    """The peers' interpreter (created and installed once, then reused) and the versions in it."""
    python = path / "bin" / "python"
    stamp = path / STAMP
    wanted = "\n".join(PINS) + "\n"
    path.mkdir(parents=True, exist_ok=True)
    with (path / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once: the second waits, then reuses
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            print(f"peers venv: {path} (cached)", flush=True)
        else:
            print(f"peers venv: creating {path}; pip install {' '.join(PINS)}", flush=True)
            started = time.monotonic()
            if not python.exists():
                _run([sys.executable, "-m", "venv", str(path)], "python -m venv")
            _run(
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *PINS],
                "pip install",
            )
            stamp.write_text(wanted)
            print(f"peers venv: ready in {time.monotonic() - started:.1f} s", flush=True)
    code = (
        "import importlib.metadata as m, json; "
        f"print(json.dumps({{n: m.version(n) for n in {list(REPORTED)!r}}}))"
    )
    done = _run([str(python), "-c", code], "peer versions")
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    print("peers venv: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)
    return python, versions


def _run(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done


# ---- Redis, spoken over a plain socket (the project's environment has no Redis client) ------


def redis_call(host: str, port: int, *commands: list[str], timeout_s: float = 3.0) -> object:
    """Send ``commands`` in one round trip; the last reply (an error reply raises)."""
    payload = b""
    for command in commands:
        payload += f"*{len(command)}\r\n".encode()
        for arg in command:
            data = arg.encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        stream = sock.makefile("rb")
        replies = [_reply(stream) for _ in commands]
    for reply in replies:
        if isinstance(reply, RedisError):
            raise reply
    return replies[-1]


class RedisError(RuntimeError):
    pass


def _reply(stream: IO[bytes]) -> object:
    line = stream.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else stream.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_reply(stream) for _ in range(size)]
    raise RedisError(f"unexpected reply {line!r}")


@dataclass
class Broker:
    host: str
    port: int
    db: int
    pid: int  # redis-server's, for its CPU time
    persistence: str
    proc: Proc | None = None  # a private server we started

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"

    def flush(self) -> None:
        redis_call(self.host, self.port, ["SELECT", str(self.db)], ["FLUSHDB"])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def _describe(host: str, port: int, db: int, proc: Proc | None = None) -> Broker:
    info = str(redis_call(host, port, ["INFO", "server"]))
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    save = redis_call(host, port, ["CONFIG", "GET", "save"])
    aof = redis_call(host, port, ["CONFIG", "GET", "appendonly"])
    fsync = redis_call(host, port, ["CONFIG", "GET", "appendfsync"])
    values = [v[1] if isinstance(v, list) and len(v) > 1 else "?" for v in (save, aof, fsync)]
    persistence = f"save '{values[0]}', appendonly {values[1]}, appendfsync {values[2]}"
    version = fields.get("redis_version", "?").strip()
    return Broker(
        host,
        port,
        db,
        int(fields["process_id"]),
        f"Redis {version} ({persistence})",
        proc,
    )


def find_broker(url: str, ws: Workspace) -> tuple[Broker | None, str]:
    """The Redis at ``url``; else a private ``redis-server``; else (None, why)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    db = int(parts.path.strip("/") or 0)
    try:
        redis_call(host, port, ["PING"])
        return _describe(host, port, db), f"Redis at {url}"
    except (OSError, RedisError) as exc:
        reason = f"Redis at {url} is unreachable: {exc}"
    binary = shutil.which("redis-server")
    if binary is None:
        return None, reason + "; no redis-server binary to start one"
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    args += ["no", "--daemonize", "no", "--dir", str(ws.root)]
    proc = Proc("redis", args, ws.root / "redis.log").start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis_call("127.0.0.1", port, ["PING"])
            return _describe("127.0.0.1", port, db, proc), f"{reason}; started redis-server :{port}"
        except (OSError, RedisError):
            if not proc.alive():
                break
            time.sleep(0.05)
    proc.stop()
    return None, f"{reason}; redis-server did not start:\n{proc.log_tail()}"
