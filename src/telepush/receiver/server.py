"""Running the receiver over HTTPS with uvicorn: in the foreground (``serve``) or on a
background thread (``ReceiverThread``, for tests and the demo)."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from telepush.receiver.app import create_app
from telepush.receiver.settings import ReceiverSettings
from telepush.receiver.tls import ensure_dev_certificates, harden

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def _certificates(
    settings: ReceiverSettings, certfile: PathLike | None, keyfile: PathLike | None
) -> tuple[Path, Path | None]:
    if certfile is not None:
        return Path(certfile), None if keyfile is None else Path(keyfile)
    if keyfile is not None:
        raise ValueError("keyfile given without certfile")
    beside = settings.database_path
    directory = (beside.resolve().parent if beside else Path.cwd()) / "receiver-certs"
    ca_pem, cert_pem, key_pem = ensure_dev_certificates(directory)
    log.warning(
        "receiver: no certificate given; using a development certificate for localhost "
        "(clients must trust %s) - never in production",
        ca_pem,
    )
    return cert_pem, key_pem


def _config(
    settings: ReceiverSettings,
    host: str,
    port: int,
    certfile: PathLike | None,
    keyfile: PathLike | None,
    log_level: str,
    access_log: bool,
) -> uvicorn.Config:
    cert, key = _certificates(settings, certfile, keyfile)
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=None if key is None else str(key),
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    config.load()
    assert config.ssl is not None
    harden(config.ssl)  # TLS 1.2 or newer only
    return config


def serve(
    settings: ReceiverSettings,
    host: str = "127.0.0.1",
    port: int = 8443,
    certfile: PathLike | None = None,
    keyfile: PathLike | None = None,
    *,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve the receiver over HTTPS until interrupted (SIGINT/SIGTERM).

    Without ``certfile``, a development CA and certificate for localhost are made (once) in
    ``receiver-certs/`` next to the SQLite file (in the current directory when storing in
    PostgreSQL); clients must trust its ``receiver-ca.pem``.
    """
    config = _config(settings, host, port, certfile, keyfile, log_level, access_log)
    uvicorn.Server(config).run()


class ReceiverThread:
    """A receiver serving HTTPS on a background thread; ``port=0`` picks a free port.

    ``with ReceiverThread(settings, certfile=..., keyfile=...) as receiver:`` then use
    ``receiver.url``. Stopping waits for in-flight requests and closes the storage.
    """

    def __init__(
        self,
        settings: ReceiverSettings,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: PathLike | None = None,
        keyfile: PathLike | None = None,
        *,
        log_level: str = "warning",
    ) -> None:
        self.settings = settings
        self.host = host
        self._config = _config(settings, host, port, certfile, keyfile, log_level, False)
        self.app = self._config.loaded_app
        self._server = uvicorn.Server(self._config)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        assert self._config.ssl is not None
        return self._config.ssl

    def start(self, timeout: float = 15.0) -> ReceiverThread:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="receiver-server",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> ReceiverThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
