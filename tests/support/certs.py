"""A test certificate authority and server certificates, written to files."""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class CertFiles:
    ca_pem: Path  # what a client trusts (TELEPUSH_CA_BUNDLE)
    cert_pem: Path  # server certificate chain
    key_pem: Path  # server private key

    def server_context(self, *, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_pem, self.key_pem)
        if max_version is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():  # old versions are deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = max_version
        return ctx


def make_certs(directory: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> CertFiles:
    """A fresh CA and a server certificate for ``names``, as PEM files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(*names)
    files = CertFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.private_key_pem.write_to_path(str(files.key_pem))
    server.cert_chain_pems[0].write_to_path(str(files.cert_pem))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert_pem), append=True)
    return files
