"""TLS: certificates and host names verified, TLS 1.2 or newer, extra CA bundle."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from telepush.delivery import Sender, client_ssl_context
from telepush.domain.delivery import ErrorKind
from telepush.errors import ConfigError
from tests.support.certs import CertFiles, make_certs
from tests.unit.delivery.helpers import ServerFactory, push

# CertFiles.server_context(max_version=...) and the permissive client below set TLS 1.0/1.1
# bounds on purpose; Python flags those versions as deprecated.
old_tls_versions = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")


def test_context_verifies_and_requires_tls12(certs: CertFiles) -> None:
    """The client context checks certificates and host names and refuses TLS below 1.2."""
    ctx = client_ssl_context(certs.ca_pem)
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert any("trustme" in str(ca.get("issuer")) for ca in ctx.get_ca_certs())


def test_missing_bundle_is_a_config_error(tmp_path: Path) -> None:
    """A CA bundle path that does not exist is a ConfigError naming the path."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match="nope.pem"):
        client_ssl_context(missing)


@pytest.mark.parametrize("content", [b"", b"not a certificate\n"])
def test_invalid_bundle_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    """A CA bundle without a usable PEM certificate is a ConfigError naming the path."""
    bad = tmp_path / "bad-ca.pem"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match="bad-ca.pem"):
        client_ssl_context(str(bad))


def test_sender_with_bad_bundle_fails_at_construction(tmp_path: Path) -> None:
    """A Sender is not built on a broken CA bundle (the mistake shows at start-up)."""
    with pytest.raises(ConfigError):
        Sender(ca_bundle=tmp_path / "absent.pem")


async def test_untrusted_certificate_is_tls(make_server: ServerFactory) -> None:
    """A server certificate from an unknown CA is a TLS failure; no request is made."""
    server = await make_server()
    async with Sender(allow_private_networks=True) as sender:  # no test CA
        result = await sender.send(push(server.url()))
    assert not result.ok
    assert result.error is ErrorKind.TLS
    assert result.detail is not None and "certificate" in result.detail.lower()
    assert server.seen == []


async def test_hostname_mismatch_is_tls(tmp_path: Path, make_server: ServerFactory) -> None:
    """A trusted certificate issued for another name is a TLS failure."""
    other = make_certs(tmp_path / "other", names=("push.example.com",))
    server = await make_server(other.server_context())
    async with Sender(ca_bundle=other.ca_pem, allow_private_networks=True) as sender:
        result = await sender.send(push(server.url()))
    assert result.error is ErrorKind.TLS
    assert result.detail is not None and "mismatch" in result.detail.lower()
    assert server.seen == []


@old_tls_versions
async def test_tls12_server_is_accepted(certs: CertFiles, make_server: ServerFactory) -> None:
    """A server that speaks at most TLS 1.2 is accepted."""
    server = await make_server(certs.server_context(max_version=ssl.TLSVersion.TLSv1_2))
    async with Sender(ca_bundle=certs.ca_pem, allow_private_networks=True) as sender:
        result = await sender.send(push(server.url()))
    assert result.ok
    assert len(server.seen) == 1


def _permissive_client(certs: CertFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(certs.ca_pem))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


@old_tls_versions
async def test_tls11_server_really_speaks_tls11(
    certs: CertFiles, make_server: ServerFactory
) -> None:
    """The max-TLS-1.1 test server completes a TLS 1.1 handshake with a permissive client."""
    server = await make_server(certs.server_context(max_version=ssl.TLSVersion.TLSv1_1))
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=_permissive_client(certs), server_hostname="127.0.0.1"
        )
    except (ssl.SSLError, ConnectionError) as exc:
        pytest.skip(f"this OpenSSL ({ssl.OPENSSL_VERSION}) cannot do TLS 1.1 at all: {exc}")
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version()
    writer.close()
    await writer.wait_closed()
    assert version == "TLSv1.1"


@old_tls_versions
async def test_tls11_server_is_refused(certs: CertFiles, make_server: ServerFactory) -> None:
    """A server that offers at most TLS 1.1 is a TLS failure; nothing is sent."""
    server = await make_server(certs.server_context(max_version=ssl.TLSVersion.TLSv1_1))
    async with Sender(ca_bundle=certs.ca_pem, allow_private_networks=True) as sender:
        result = await sender.send(push(server.url()))
    assert not result.ok
    assert result.error is ErrorKind.TLS
    assert server.seen == []
