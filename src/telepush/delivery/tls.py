"""The client TLS context: certificates and host names verified, TLS 1.2 or newer.

Trust is the system's default CAs plus, optionally, one extra PEM bundle
(``TELEPUSH_CA_BUNDLE``) for customers behind a private CA, and for tests.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from telepush.errors import ConfigError

MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2


def client_ssl_context(ca_bundle: str | Path | None = None) -> ssl.SSLContext:
    """A verifying client context; ``ca_bundle`` adds trusted CAs from a PEM file.

    Raises ``ConfigError`` naming the file when the bundle is missing or holds no usable
    certificate.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    # create_default_context already verifies; stated here so no later edit loosens it.
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.minimum_version = MINIMUM_TLS_VERSION
    if ca_bundle is not None and str(ca_bundle) != "":
        _load_bundle(ctx, Path(ca_bundle))
    return ctx


def _load_bundle(ctx: ssl.SSLContext, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(
            f"CA bundle {path}: no such file (TELEPUSH_CA_BUNDLE must name a PEM file)",
            field="ca_bundle",
        )
    try:
        ctx.load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"CA bundle {path}: not a readable PEM certificate bundle ({exc})",
            field="ca_bundle",
        ) from exc
