"""A ``StoredPayload`` is read from the store's file by the poster that sends it, over real
HTTPS; a payload that cannot be read is a failed attempt that sent nothing."""

from __future__ import annotations

from telepush.delivery import Sender
from telepush.domain.delivery import ErrorKind, StoredPayload
from telepush.store.sqlite import SQLiteStore
from telepush.testing import FakeClock, make_payload
from tests.support.certs import CertFiles
from tests.support.payloads import claim_stored
from tests.unit.delivery.helpers import HttpsServer, push


def reading_sender(certs: CertFiles, payload_file: str | None) -> Sender:
    return Sender(
        ca_bundle=certs.ca_pem,
        allow_private_networks=True,
        total_timeout_s=5.0,
        payload_file=payload_file,
    )


async def test_a_stored_payload_is_read_and_sent_byte_exact(
    store: SQLiteStore, server: HttpsServer, certs: CertFiles
) -> None:
    body = make_payload("trip", itinId="big", sensors="48.8566," * 250_000)  # 2 MB
    stored = await claim_stored(store, body)
    async with reading_sender(certs, store.payload_file) as sender:
        result = await sender.send(push(server.url(), payload=stored))
    assert result.ok and result.status_code == 200
    [seen] = server.requests("/push")
    assert seen.body == body
    assert seen.headers["Content-Length"] == str(len(body))


async def test_an_erased_payload_fails_the_attempt_and_sends_nothing(
    store: SQLiteStore, server: HttpsServer, certs: CertFiles
) -> None:
    stored = await claim_stored(store, make_payload("trip", sensors="x" * 2000))
    await store.delete_customer("acme", FakeClock().now())
    async with reading_sender(certs, store.payload_file) as sender:
        result = await sender.send(push(server.url(), payload=stored))
    assert not result.ok and result.error is ErrorKind.CONNECT
    assert result.detail is not None
    assert "could not be read from the store" in result.detail
    assert "no longer in the store" in result.detail
    assert server.requests("/push") == []


async def test_a_sender_without_a_payload_file_says_so(
    server: HttpsServer, certs: CertFiles
) -> None:
    async with reading_sender(certs, None) as sender:
        assert not sender.reads_stored_payloads  # nor do delivery processes exist
        result = await sender.send(push(server.url(), payload=StoredPayload(1)))
    assert not result.ok
    assert result.detail is not None and "no payload_file is configured" in result.detail
    assert server.requests("/push") == []
