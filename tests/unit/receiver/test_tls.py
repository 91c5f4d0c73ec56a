"""Development certificates and the TLS the receiver accepts."""

from __future__ import annotations

import ssl
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from telepush.receiver import ReceiverSettings, ReceiverThread, ensure_dev_certificates
from tests.unit.receiver.conftest import CLIENT_ID, CLIENT_SECRET


def test_dev_certificates_are_made_once_with_a_private_key(tmp_path: Path) -> None:
    """The CA, certificate and 0600 key are written on the first call and reused after."""
    ca, cert, key = ensure_dev_certificates(tmp_path / "certs")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = (ca.read_bytes(), cert.read_bytes(), key.read_bytes())
    assert ensure_dev_certificates(tmp_path / "certs") == (ca, cert, key)
    assert (ca.read_bytes(), cert.read_bytes(), key.read_bytes()) == before
    assert b"BEGIN CERTIFICATE" in ca.read_bytes()


@pytest.fixture
def dev_receiver(tmp_path: Path) -> Iterator[tuple[ReceiverThread, Path]]:
    ca, cert, key = ensure_dev_certificates(tmp_path / "certs")
    settings = ReceiverSettings(
        database=str(tmp_path / "r.db"), client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    server = ReceiverThread(settings, certfile=cert, keyfile=key)
    yield server, ca
    server.stop()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_dev_certificate_is_trusted_through_its_ca(
    dev_receiver: tuple[ReceiverThread, Path], host: str
) -> None:
    """A client trusting the dev CA reaches the receiver over verified HTTPS."""
    server, ca = dev_receiver
    context = ssl.create_default_context(cafile=str(ca))
    with server:
        url = f"https://{host}:{server.port}/healthz"
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as client,
            client.get(url) as reply,
        ):
            assert reply.status == 200


async def test_tls_older_than_1_2_is_refused(dev_receiver: tuple[ReceiverThread, Path]) -> None:
    """The server requires TLS 1.2+, and a client limited to TLS 1.1 cannot connect."""
    server, ca = dev_receiver
    assert server.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
    context = ssl.create_default_context(cafile=str(ca))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with server:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as client:
            with pytest.raises(aiohttp.ClientError):
                async with client.get(server.url + "/healthz"):
                    pass
