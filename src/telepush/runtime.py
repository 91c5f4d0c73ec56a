"""Composition root: settings -> store -> operations, sender, worker, API.

The one place that turns settings into objects. Everything below takes plain arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prometheus_client
import uvicorn

from telepush.api import create_app
from telepush.config import Settings
from telepush.console import DepthHistory, Replays
from telepush.delivery import heartbeat
from telepush.delivery.auth import RENEW_MARGIN_S, TokenCache
from telepush.delivery.sender import Sender
from telepush.delivery.shared_tokens import SharedTokens
from telepush.delivery.worker import Worker
from telepush.errors import ConfigError
from telepush.housekeeping import retention_loop, retention_policy
from telepush.metrics import refresh_every
from telepush.operations import Operations, utcnow
from telepush.store.base import Store
from telepush.store.secrets import SecretBox, load_or_create_key
from telepush.store.sqlite import SQLiteStore

log = logging.getLogger("telepush")

API_TOKEN_FILE = "api-token"
SECRET_KEY_FILE = "secret.key"


def ensure_data_dir(settings: Settings) -> Path:
    path = settings.data_dir.expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def open_store(settings: Settings) -> Store:
    """The store named by ``TELEPUSH_DATABASE_URL`` (SQLite file by default)."""
    url = settings.resolved_database_url
    data_dir = ensure_data_dir(settings)
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value().encode()
    else:
        key = load_or_create_key(data_dir / SECRET_KEY_FILE)
    box = SecretBox(key)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # payloads are personal data: owner-only, like its WAL files
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        return SQLiteStore(path, box, synchronous=settings.sqlite_synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        try:  # the PostgreSQL driver is needed only by deployments that use it
            from telepush.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"a postgresql:// database needs the psycopg driver ({exc}); install "
                "'psycopg[binary]' and 'psycopg-pool'",
                field="database_url",
            ) from exc
        return PostgresStore(url, box)
    raise ConfigError(
        f"TELEPUSH_DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}",
        field="database_url",
    )


def api_token(settings: Settings) -> tuple[str, Path | None]:
    """The API token, and the file it was read from or written to (None if from settings)."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value(), None
    path = ensure_data_dir(settings) / API_TOKEN_FILE
    if not path.exists():
        token = secrets.token_urlsafe(32)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(token + "\n")
    token = path.read_text().strip()
    if not token:
        raise ConfigError(f"API token file {path} is empty; delete it to generate a new one")
    return token, path


def make_sender(settings: Settings, store: Store, *, delivering: bool = True) -> Sender:
    """The sender; OAuth2 tokens are shared with every process through ``store``. Delivery
    processes are started only for a process that ``delivering`` (runs a worker)."""
    tokens = TokenCache(shared=SharedTokens(store, margin_s=RENEW_MARGIN_S))
    return Sender(
        token_cache=tokens,
        ca_bundle=settings.ca_bundle,
        allow_private_networks=settings.allow_private_networks,
        connect_timeout_s=settings.connect_timeout_s,
        total_timeout_s=settings.total_timeout_s,
        max_connections=settings.max_in_flight * 2,
        delivery_processes=settings.delivery_processes if delivering else 0,
        payload_file=store.payload_file,
    )


def make_worker(settings: Settings, store: Store, sender: Sender) -> Worker:
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    return Worker(
        store,
        sender,
        worker_id=worker_id,
        clock=utcnow,
        lease_s=settings.lease_s,
        max_in_flight=settings.max_in_flight,
        per_endpoint_limit=settings.per_endpoint_concurrency,
        claim_batch=settings.claim_batch,
        poll_interval_s=settings.poll_interval_s,
        shutdown_grace_s=settings.shutdown_grace_s,
        pause_after=settings.breaker_failures,
        probe_interval_s=settings.breaker_probe_interval_s,
    )


@contextlib.asynccontextmanager
async def opened_store(settings: Settings, *, migrate: bool = False) -> AsyncIterator[Store]:
    store = open_store(settings)
    await store.open()
    try:
        if migrate:
            applied = await store.migrate()
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        else:
            await store.check_schema()
        yield store
    finally:
        await store.close()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _on_stop_signals(callback: Callable[[], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@dataclass
class ServeInfo:
    url: str
    token_file: Path | None
    database_url: str


def tune_interpreter(settings: Settings) -> None:
    """Process-wide settings for a process that is the service (``serve``, ``worker``):
    the thread switch interval (see ``Settings.switch_interval_ms``)."""
    if settings.switch_interval_ms > 0:
        sys.setswitchinterval(settings.switch_interval_ms / 1000)


async def serve(
    settings: Settings,
    *,
    run_api: bool = True,
    run_worker: bool = True,
    migrate: bool = True,
    on_ready: Callable[[ServeInfo], Any] | None = None,
) -> None:
    """Run the API and/or a worker until SIGTERM/SIGINT; stop gracefully."""
    tune_interpreter(settings)
    token, token_file = api_token(settings)
    retention = retention_policy(settings)  # contradictory settings: an error before start
    stop = asyncio.Event()
    sock = listen_socket(settings.host, settings.port) if run_api else None
    async with opened_store(settings, migrate=migrate) as store:
        sender = make_sender(settings, store, delivering=run_worker)
        await sender.start()
        worker = make_worker(settings, store, sender) if run_worker else None
        ops = Operations(
            store,
            max_body_bytes=settings.max_body_bytes,
            on_enqueued=worker.wake if worker else None,
        )
        server: _Server | None = None
        if run_api:
            replays = Replays(ops, on_requeued=lambda _task, _n: ops.notify())
            depth = DepthHistory(ops)
            app = create_app(ops, api_token=token, replays=replays, depth=depth)
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                http="auto",  # httptools (a dependency) over h11: decision 0008
                timeout_graceful_shutdown=5,
            )
            server = _Server(config)

        def request_stop() -> None:
            if not stop.is_set():
                log.info("stopping: finishing in-flight work")
            stop.set()
            if server is not None:
                server.should_exit = True

        tasks: list[asyncio.Task[None]] = []
        stop_metrics: Callable[[], None] | None = None
        with _on_stop_signals(request_stop):
            if not run_api and settings.metrics_port > 0:  # `serve` has /metrics on its API
                stop_metrics = start_metrics_server(settings.host, settings.metrics_port)
                tasks.append(
                    asyncio.create_task(
                        refresh_every(ops.queue_gauges, stop, METRICS_REFRESH_S),
                        name="telepush-metrics",
                    )
                )
            if settings.retention_interval_s > 0:  # erase old payloads, now and periodically
                tasks.append(
                    asyncio.create_task(
                        retention_loop(
                            store,
                            retention,
                            interval_s=settings.retention_interval_s,
                            clock=utcnow,
                            stop=stop,
                        ),
                        name="telepush-retention",
                    )
                )
            if worker is not None:
                tasks.append(asyncio.create_task(worker.run(stop), name="telepush-worker"))
                tasks.append(
                    asyncio.create_task(
                        heartbeat.beat(
                            store,
                            worker.worker_id,
                            clock=utcnow,
                            in_flight=lambda: worker.in_flight,
                            stop=stop,
                        ),
                        name="telepush-heartbeat",
                    )
                )
            if server is not None:
                assert sock is not None
                tasks.append(asyncio.create_task(replays.watch(stop), name="telepush-replays"))
                tasks.append(asyncio.create_task(depth.run(stop), name="telepush-depth"))
                tasks.append(asyncio.create_task(server.serve([sock]), name="telepush-api"))
                while not server.started and not stop.is_set():
                    if tasks[-1].done():
                        break
                    await asyncio.sleep(0.02)
            if on_ready is not None and (server is None or server.started):
                on_ready(
                    ServeInfo(
                        _bound_url(settings, server), token_file, settings.resolved_database_url
                    )
                )
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # surface a crash (e.g. port in use)
            finally:
                request_stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                await sender.close()
                if stop_metrics is not None:
                    stop_metrics()


METRICS_REFRESH_S = 15.0  # how often a worker-only process reads the queue gauges


def start_metrics_server(host: str, port: int) -> Callable[[], None]:
    """Serve the Prometheus metrics at ``http://host:port/metrics`` from a thread (no API
    token: bind it to a private address); returns the function that stops it."""
    try:
        httpd, thread = prometheus_client.start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror}; choose another with "
            "TELEPUSH_METRICS_PORT",
            field="metrics_port",
        ) from None
    log.info("metrics on http://%s:%d/metrics", host, httpd.server_port)

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

    return stop


def listen_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound now so a busy port is a clear error, not a crash."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when their
    # protocol says TCP; without it every kept-alive request waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another with --port or "
            "TELEPUSH_PORT",
            field="port",
        ) from None
    sock.set_inheritable(True)
    return sock


def _bound_url(settings: Settings, server: _Server | None) -> str:
    port = settings.port
    if server is not None and server.servers:
        sockets = server.servers[0].sockets
        if sockets:
            port = sockets[0].getsockname()[1]
    return f"http://{settings.host}:{port}"
