"""TLS for the receiver: development certificates and the server's SSL context.

``ensure_dev_certificates`` makes a local test CA and a server certificate for
``localhost``, ``127.0.0.1`` and ``::1`` (with ``trustme``), once: later calls reuse the
files. They are for local use only - give the client (telepush: ``TELEPUSH_CA_BUNDLE``) the
CA file. In production, pass your own certificate and key to ``serve``.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

DEV_NAMES = ("localhost", "127.0.0.1", "::1")
CA_FILE = "receiver-ca.pem"
CERT_FILE = "receiver-cert.pem"
KEY_FILE = "receiver-key.pem"


def ensure_dev_certificates(directory: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """``(ca_pem, cert_pem, key_pem)`` in ``directory``, created on the first call only."""
    folder = Path(directory)
    ca_pem, cert_pem, key_pem = folder / CA_FILE, folder / CERT_FILE, folder / KEY_FILE
    if ca_pem.is_file() and cert_pem.is_file() and key_pem.is_file():
        return ca_pem, cert_pem, key_pem
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="telepush receiver kit (development only)")
    server = ca.issue_cert(*DEV_NAMES)
    _write_private(key_pem, server.private_key_pem.bytes())
    _write(cert_pem, b"".join(blob.bytes() for blob in server.cert_chain_pems))
    _write(ca_pem, ca.cert_pem.bytes())  # last: its presence marks a complete set
    return ca_pem, cert_pem, key_pem


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def server_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A server context accepting TLS 1.2 or newer only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Refuse anything older than TLS 1.2 on an existing context."""
    ctx.minimum_version = max(ctx.minimum_version, ssl.TLSVersion.TLSv1_2)
    return ctx
