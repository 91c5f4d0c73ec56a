"""The management API from a user's side: bad input gets a clear error and loses nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import API_TOKEN, Telepush
from tests.support.procs import Process, free_port, telepush_cmd, wait_until

pytestmark = pytest.mark.e2e

CUSTOMER = {
    "name": "Acme",
    "auth": {"type": "basic", "username": "u", "password": "pw-secret"},
    "services": {
        "trip": {"url": "https://127.0.0.1:9/push/trip"},
        "crash": {"url": "https://127.0.0.1:9/push/crash", "enabled": False},
    },
}


@pytest.fixture(scope="module")
def tp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Telepush]:
    """One telepush whose worker is off, so queued deliveries stay put for inspection."""
    data = Path(tmp_path_factory.mktemp("api"))
    port = free_port()
    env = {
        "TELEPUSH_DATA_DIR": str(data),
        "TELEPUSH_API_TOKEN": API_TOKEN,
        "TELEPUSH_PORT": str(port),
        "TELEPUSH_MAX_BODY_BYTES": "65536",
    }
    proc = Process(telepush_cmd("serve", "--no-worker"), env, data / "log").start()
    server = Telepush(f"http://127.0.0.1:{port}", proc, env, data)
    wait_until(lambda: proc.alive() and _up(server), what="telepush to answer")
    resp = server.call("PUT", "/v1/customers/acme", CUSTOMER)
    assert resp.status in (200, 201)
    yield server
    proc.stop()


def _up(server: Telepush) -> bool:
    try:
        return server.call("GET", "/healthz").status == 200
    except OSError:
        return False


def error(resp: object) -> dict:
    return resp.json()["error"]  # type: ignore[attr-defined, no-any-return]


def test_healthz_is_open_and_everything_else_needs_the_token(tp: Telepush) -> None:
    """/healthz needs no token; other routes answer 401 without it or with a wrong one."""
    assert tp.call("GET", "/healthz", headers={"Authorization": ""}).status == 200
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        for method, path in (
            ("GET", "/v1/customers"),
            ("GET", "/metrics"),
            ("POST", "/v1/customers/acme/push/trip"),
            ("POST", "/v1/customers/acme/push/trip/batch"),
        ):
            resp = tp.call(method, path, {"itinId": "x"} if method == "POST" else None, headers)
            assert resp.status == 401, (method, path)
            assert error(resp)["code"] == "unauthorized"


def test_push_accepted_and_read_back(tp: Telepush) -> None:
    """A valid push answers 202 with a delivery id that reads back pending with its key."""
    resp = tp.call("POST", "/v1/customers/acme/push/trip", {"itinId": "T-1"})
    assert resp.status == 202
    body = resp.json()
    assert body["status"] == "pending"
    got = tp.delivery(body["deliveryId"])
    assert got["key"] == "T-1" and got["service"] == "trip" and got["attempts"] == []


@pytest.mark.parametrize(
    "path,body,status,code,field",
    [
        ("/v1/customers/acme/push/trip", b"{not json", 400, "invalid_json", None),
        ("/v1/customers/acme/push/trip", b'{"userId": "u"}', 422, "missing_field", "itinId"),
        ("/v1/customers/acme/push/trips", b'{"itinId": "x"}', 422, "unknown_service", "service"),
        (
            "/v1/customers/acme/push/diagnosis",
            b'{"userId": "u"}',
            422,
            "service_not_configured",
            "service",
        ),
        ("/v1/customers/acme/push/crash", b'{"crashId": "c"}', 422, "service_disabled", "service"),
        ("/v1/customers/nobody/push/trip", b'{"itinId": "x"}', 404, "not_found", "customerId"),
        (
            "/v1/customers/acme/push/trip",
            b'{"itinId": "' + b"x" * 70000 + b'"}',
            413,
            "payload_too_large",
            "body",
        ),
    ],
)
def test_bad_pushes_are_refused_clearly(
    tp: Telepush, path: str, body: bytes, status: int, code: str, field: str | None
) -> None:
    """Each kind of bad push gets its status, error code and field; nothing is queued."""
    before = tp.call("GET", "/v1/deliveries?limit=1000").json()["items"]
    resp = tp.call("POST", path, body, {"Content-Type": "application/json"})
    assert resp.status == status, resp.body
    err = error(resp)
    assert err["code"] == code
    assert err.get("field") == field
    assert err["message"]
    after = tp.call("GET", "/v1/deliveries?limit=1000").json()["items"]
    assert len(after) == len(before)


def test_idempotency_key_deduplicates(tp: Telepush) -> None:
    """The same Idempotency-Key returns the first delivery instead of queueing another."""
    headers = {"Idempotency-Key": "order-42"}
    first = tp.call("POST", "/v1/customers/acme/push/trip", {"itinId": "I-1"}, headers).json()
    again = tp.call("POST", "/v1/customers/acme/push/trip", {"itinId": "I-1"}, headers).json()
    assert again["deliveryId"] == first["deliveryId"]
    assert again["duplicate"] is True and first["duplicate"] is False


def test_batch_json_array_and_ndjson(tp: Telepush) -> None:
    """Batches give one result per item: valid ones queued, invalid ones explained."""
    resp = tp.call(
        "POST",
        "/v1/customers/acme/push/trip/batch",
        [{"itinId": "B-1"}, {"nope": 1}, {"itinId": "B-2"}],
    )
    assert resp.status == 202
    body = resp.json()
    assert body["accepted"] == 2 and body["rejected"] == 1
    assert body["items"][1]["error"]["field"] == "itinId"
    assert tp.delivery(body["items"][2]["deliveryId"])["key"] == "B-2"
    ndjson = b'{"itinId": "N-1"}\n{"itinId": "N-2"}\n'
    resp = tp.call(
        "POST",
        "/v1/customers/acme/push/trip/batch",
        ndjson,
        {"Content-Type": "application/x-ndjson"},
    )
    assert resp.json()["accepted"] == 2


def test_a_service_disabled_by_put_is_refused_at_once(tp: Telepush) -> None:
    """Pushes check a cached copy of the customer, but a PUT through the same server drops
    it: the very next push sees the service disabled, and enabled again."""
    config = json.loads(json.dumps(CUSTOMER))
    assert tp.call("PUT", "/v1/customers/flip", config).status in (200, 201)
    assert tp.call("POST", "/v1/customers/flip/push/trip", {"itinId": "F-1"}).status == 202
    config["services"]["trip"]["enabled"] = False
    assert tp.call("PUT", "/v1/customers/flip", config).status == 200
    resp = tp.call("POST", "/v1/customers/flip/push/trip", {"itinId": "F-2"})
    assert resp.status == 422 and error(resp)["code"] == "service_disabled"
    resp = tp.call("POST", "/v1/customers/flip/push/trip/batch", [{"itinId": "F-3"}])
    assert resp.status == 422 and error(resp)["code"] == "service_disabled"
    config["services"]["trip"]["enabled"] = True
    assert tp.call("PUT", "/v1/customers/flip", config).status == 200
    assert tp.call("POST", "/v1/customers/flip/push/trip", {"itinId": "F-4"}).status == 202
    assert tp.call("DELETE", "/v1/customers/flip").status == 204
    resp = tp.call("POST", "/v1/customers/flip/push/trip", {"itinId": "F-5"})
    assert resp.status == 404 and error(resp)["code"] == "not_found"


def test_malformed_batch_is_refused(tp: Telepush) -> None:
    """A batch body that is not a JSON array or NDJSON is a 400."""
    resp = tp.call("POST", "/v1/customers/acme/push/trip/batch", b"[{}", {})
    assert resp.status == 400 and error(resp)["code"] == "invalid_json"


def test_customer_errors(tp: Telepush) -> None:
    """Customer configuration errors name the field; secrets are never echoed back."""
    bad = json.loads(json.dumps(CUSTOMER))
    del bad["auth"]["password"]
    resp = tp.call("PUT", "/v1/customers/other", bad)
    assert resp.status == 422 and error(resp)["field"] == "auth.password"
    resp = tp.call("PUT", "/v1/customers/other", b"{", {"Content-Type": "application/json"})
    assert resp.status == 400
    resp = tp.call("PUT", "/v1/customers/bad%20id", CUSTOMER)
    assert resp.status == 422 and error(resp)["field"] == "customerId"
    shown = tp.call("GET", "/v1/customers/acme")
    assert b"pw-secret" not in shown.body and shown.json()["auth"]["username"] == "u"
    assert tp.call("GET", "/v1/customers/ghost").status == 404
    assert tp.call("DELETE", "/v1/customers/ghost").status == 404


def test_delivery_listing_filters_and_pages(tp: Telepush) -> None:
    """Listing filters by status and service and pages with a cursor, without repeats."""
    for i in range(5):
        tp.call("POST", "/v1/customers/acme/push/trip", {"itinId": f"P-{i}"})
    seen: list[str] = []
    cursor = None
    while True:
        query = "/v1/deliveries?service=trip&status=pending&limit=2"
        page = tp.call("GET", query + (f"&cursor={cursor}" if cursor else "")).json()
        seen += [d["deliveryId"] for d in page["items"]]
        assert all(d["status"] == "pending" for d in page["items"])
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 5
    resp = tp.call("GET", "/v1/deliveries?status=lost")
    assert resp.status == 422 and error(resp)["field"] == "status"
    assert tp.call("GET", "/v1/deliveries/nope").status == 404


def test_openapi_is_published(tp: Telepush) -> None:
    """/openapi.json describes the routes."""
    spec = tp.call("GET", "/openapi.json").json()
    assert "/v1/customers/{customerId}/push/{service}" in spec["paths"]
    push = spec["paths"]["/v1/customers/{customerId}/push/{service}"]["post"]
    assert [(p["in"], p["name"]) for p in push["parameters"]] == [
        ("path", "customerId"),
        ("path", "service"),
        ("header", "Idempotency-Key"),
    ]
    assert push["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PushAccepted"
    }
    batch = spec["paths"]["/v1/customers/{customerId}/push/{service}/batch"]["post"]
    assert [p["name"] for p in batch["parameters"]] == ["customerId", "service"]
