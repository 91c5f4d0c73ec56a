"""The demo directory: what lives there, how a fresh run starts, and the settings it implies.

A run reuses the directory but starts from empty databases: ``telepush.db`` and
``receiver.db`` (with their WAL files) are deleted; the API token, the secret key and the
receiver's development certificates are kept, so a ``curl`` line written down earlier still
works. A directory that is not empty and was not made by the demo is refused, and a lock
keeps two demos from sharing one directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from telepush.errors import ConfigError
from telepush.receiver import ensure_dev_certificates

MARKER = ".telepush-demo"
TELEPUSH_DB = "telepush.db"
RECEIVER_DB = "receiver.db"
RECEIVER_SECRET = "receiver-client-secret"
RECEIVER_CLIENT_ID = "demo-fleet-client"
HOST = "127.0.0.1"
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass
class Workspace:
    """A prepared demo directory; holds its lock until the process ends."""

    root: Path
    ca_pem: Path
    cert_pem: Path
    key_pem: Path
    client_secret: str
    lock: IO[str]

    @property
    def telepush_db(self) -> Path:
        return self.root / TELEPUSH_DB

    @property
    def receiver_db(self) -> Path:
        return self.root / RECEIVER_DB

    @property
    def secret_file(self) -> Path:
        return self.root / RECEIVER_SECRET


def prepare_workspace(directory: Path) -> Workspace:
    """Create or reuse ``directory`` and start it afresh; ``ConfigError`` says why not."""
    root = directory.expanduser().absolute()
    try:
        return _prepare(root)
    except OSError as exc:
        where = exc.filename or root
        raise ConfigError(f"cannot use {where} as the demo directory: {exc.strerror}") from None


def _prepare(root: Path) -> Workspace:
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a directory; choose another --dir")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise ConfigError(
            f"{root} is not empty and was not made by telepush demo; "
            "choose another --dir (or an empty or new one)"
        )
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _lock(root / MARKER)
    for name in (TELEPUSH_DB, RECEIVER_DB):
        for suffix in _DB_SUFFIXES:
            (root / f"{name}{suffix}").unlink(missing_ok=True)
    ca_pem, cert_pem, key_pem = ensure_dev_certificates(root / "receiver-certs")
    client_secret = secrets.token_urlsafe(24)
    _write_private(root / RECEIVER_SECRET, client_secret + "\n")
    return Workspace(root, ca_pem, cert_pem, key_pem, client_secret, lock)


def _lock(path: Path) -> IO[str]:
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise ConfigError(
                f"another telepush demo is running in {path.parent}; stop it or choose "
                "another --dir"
            ) from None
        raise
    return handle


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def check_port(port: int) -> None:
    """Fail early, in one line, when ``port`` cannot be listened on (0 picks a free one)."""
    if port == 0:
        return
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {HOST}:{port}: {exc.strerror}; choose another --port "
                "(or leave it out to pick a free one)",
                field="port",
            ) from None


def demo_settings(workspace: Workspace, port: int) -> dict[str, Any]:
    """The settings the demo forces, whatever the environment says."""
    return {
        "data_dir": workspace.root,
        "database_url": f"sqlite:///{workspace.telepush_db}",
        "ca_bundle": workspace.ca_pem,
        "allow_private_networks": True,  # the demo's receiver is on loopback
        "host": HOST,
        "port": port,
        "poll_interval_s": 0.2,
    }
