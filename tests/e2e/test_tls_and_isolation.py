"""TLS floor and endpoint isolation, end to end."""

from __future__ import annotations

import ssl
import urllib.request
import warnings

import pytest

from tests.e2e.conftest import StartReceiver, StartTelepush, oauth2_customer
from tests.support.certs import CertFiles
from tests.support.procs import wait_until
from tests.support.servers import black_hole, https_server

pytestmark = pytest.mark.e2e
BASIC = {"type": "basic", "username": "u", "password": "p"}


def test_tls_1_1_endpoint_refused_while_tls_1_2_works(
    certs: CertFiles, start_telepush: StartTelepush
) -> None:
    """A server capped at TLS 1.1 gets a tls failure and no request; a TLS 1.2 one gets the push."""
    with (
        https_server(certs, max_version=ssl.TLSVersion.TLSv1_1) as (old_url, old),
        https_server(certs) as (new_url, new),
    ):
        # The old server really speaks TLS 1.1 to a client that allows it.
        permissive = ssl.create_default_context(cafile=str(certs.ca_pem))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            permissive.minimum_version = ssl.TLSVersion.TLSv1_1
        permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
        req = urllib.request.Request(old_url + "/probe", data=b"{}", method="POST")
        with urllib.request.urlopen(req, context=permissive, timeout=5) as resp:
            assert resp.status == 200
        hits_before = old.hits

        tp = start_telepush()
        for name, url in (("old", old_url), ("new", new_url)):
            tp.put_customer(
                name,
                {"name": name, "auth": BASIC, "services": {"trip": {"url": url + "/push/trip"}}},
            )
        old_id = tp.push("old", "trip", {"itinId": "t1"})
        new_id = tp.push("new", "trip", {"itinId": "t1"})
        assert tp.wait_status(new_id, "delivered")["attempts"][0]["statusCode"] == 200
        failed = wait_until(
            lambda: (d := tp.delivery(old_id))["attempts"] and d, what="the TLS 1.1 attempt"
        )
        assert failed["attempts"][0]["error"] == "tls"
        assert failed["attempts"][0]["statusCode"] is None
        assert old.hits == hits_before
        assert new.hits == 1


def test_dead_endpoint_does_not_delay_other_customers(
    start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    """A customer whose endpoint hangs holds only its own slots: another customer's
    deliveries, pushed after a large backlog for the dead one, are all delivered while every
    attempt to the dead endpoint is still waiting for its timeout."""
    rec = start_receiver()
    tp = start_telepush(
        max_in_flight=16, per_endpoint_concurrency=4, total_timeout_s=20, lease_s=40
    )
    with black_hole() as dead_url:
        tp.put_customer(
            "dead",
            {"name": "dead", "auth": BASIC, "services": {"trip": {"url": dead_url + "/push/trip"}}},
        )
        tp.put_customer("alive", oauth2_customer(rec))
        resp = tp.call(
            "POST", "/v1/customers/dead/push/trip/batch", [{"itinId": f"d{i}"} for i in range(100)]
        )
        assert resp.status == 202
        dead_ids = [item["deliveryId"] for item in resp.json()["items"]]
        alive_ids = [tp.push("alive", "trip", {"itinId": f"a{i}"}) for i in range(30)]
        for delivery_id in alive_ids:
            tp.wait_status(delivery_id, "delivered", timeout_s=15)
        sending = [tp.delivery(d) for d in dead_ids[:10]]
        assert all(not d["attempts"] for d in sending)  # still hanging, nothing recorded
        listing = tp.call("GET", "/v1/deliveries?customer=dead&status=sending&limit=100").json()
        # the per-endpoint cap of requests (4) and the 8 leased ahead of it (SQLite claims
        # ahead by twice the cap; they wait in the worker), not the global cap of 16
        assert len(listing["items"]) == 12
