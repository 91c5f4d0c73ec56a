"""The control API: scripted faults, request log, and its absence by default."""

from __future__ import annotations

import time
from collections.abc import Callable

from telepush.receiver import ReceiverThread
from telepush.synth import Synth, to_bytes
from tests.unit.receiver.conftest import CLIENT_SECRET, Api, StartReceiver


async def test_fault_answers_its_status_n_times_then_recovers(api: Api) -> None:
    """A 500 fault scripted 3 times answers 500 three times, then pushes are stored again."""
    bearer = await api.bearer()
    body = to_bytes(Synth(30).crash(crash_id="f1"))
    await api.control("POST", "/faults", {"path": "/push/crash", "status": 500, "times": 3})
    statuses = [
        (await api.push("crash", body, bearer, delivery_id="d", attempt=n)).status
        for n in (1, 2, 3, 4)
    ]
    assert statuses == [500, 500, 500, 200]
    assert (await api.control("GET", "/faults"))["faults"] == []
    receipts = (await api.get("/receipts?deliveryId=d", bearer)).json()["items"]
    assert [r["attempt"] for r in receipts] == ["4"]


async def test_fault_only_affects_its_path(api: Api) -> None:
    """A fault on /push/crash leaves /push/diagnosis alone."""
    bearer = await api.bearer()
    await api.control("POST", "/faults", {"path": "/push/crash", "status": 503, "times": None})
    body = to_bytes(Synth(31).diagnosis())
    assert (await api.push("diagnosis", body, bearer)).status == 200
    assert (await api.push("crash", to_bytes(Synth(31).crash()), bearer)).status == 503


async def test_fault_until_cleared_and_retry_after(api: Api) -> None:
    """times=null answers the fault until DELETE /_control/faults, with Retry-After set."""
    bearer = await api.bearer()
    body = to_bytes(Synth(32).crash())
    fault = {"path": "*", "status": 429, "times": None, "retryAfter": 7}
    await api.control("POST", "/faults", fault)
    for _ in range(3):
        reply = await api.push("crash", body, bearer)
        assert reply.status == 429
        assert reply.headers["Retry-After"] == "7"
    assert (await api.control("DELETE", "/faults"))["cleared"] == 1
    assert (await api.push("crash", body, bearer)).status == 200


async def test_delay_fault_holds_the_answer(api: Api) -> None:
    """delayS with status null answers normally, but only after the delay."""
    bearer = await api.bearer()
    await api.control("POST", "/faults", {"path": "/push/crash", "status": None, "delayS": 0.5})
    started = time.perf_counter()
    reply = await api.push("crash", to_bytes(Synth(33).crash()), bearer)
    assert reply.status == 200
    assert time.perf_counter() - started >= 0.5


async def test_token_endpoint_can_fail_on_purpose(api: Api) -> None:
    """A fault on the token path makes the token endpoint answer 503 once."""
    await api.control("POST", "/faults", {"path": "/oauth/token", "status": 503})
    assert (await api.token_reply()).status == 503
    assert (await api.token_reply()).status == 200


async def test_unknown_fault_path_is_refused(api: Api) -> None:
    """Scripting a fault for a path the receiver does not serve is a 400."""
    reply = await api.request(
        "POST", "/_control/faults", json_body={"path": "/nowhere", "status": 500}
    )
    assert reply.status == 400


async def test_request_log_records_pushes_without_secrets(api: Api) -> None:
    """Each push is logged with its Telepush headers, auth scheme and answer, no token."""
    token = await api.token()
    await api.push(
        "crash", to_bytes(Synth(34).crash()), "Bearer " + token, delivery_id="L1", attempt=2
    )
    await api.push("crash", b"{}", "Bearer bad", delivery_id="L2")
    items = (await api.control("GET", "/requests?path=/push/crash"))["items"]
    assert [(i["deliveryId"], i["attempt"], i["status"]) for i in items] == [
        ("L1", "2", 200),
        ("L2", "1", 401),
    ]
    first = items[0]
    assert first["authScheme"] == "Bearer"
    assert first["headers"]["telepush-service"] == "crash"
    assert first["headers"]["authorization"] == "Bearer <redacted>"
    assert first["outcome"] == "stored"
    everything = str(await api.control("GET", "/requests"))
    assert token not in everything
    assert CLIENT_SECRET not in everything
    await api.control("DELETE", "/requests")
    assert (await api.control("GET", "/requests"))["items"] == []


async def test_fault_responses_are_logged(api: Api) -> None:
    """A request answered by a fault is in the log, marked as such."""
    await api.control("POST", "/faults", {"path": "/push/trip", "status": 502})
    await api.push("trip", b'{"itinId": "x"}', await api.bearer(), delivery_id="F")
    entry = (await api.control("GET", "/requests?path=/push/trip"))["items"][-1]
    assert entry["status"] == 502
    assert entry["fault"] is True


async def test_reset_clears_faults_and_storage_failures(api: Api) -> None:
    """POST /_control/reset removes faults and pending storage failures."""
    await api.control("POST", "/faults", {"path": "*", "status": 500, "times": None})
    await api.control("POST", "/fail-storage", {"times": 5})
    await api.control("POST", "/reset")
    reply = await api.push("crash", to_bytes(Synth(35).crash()), await api.bearer())
    assert reply.status == 200


async def test_control_api_is_absent_by_default(
    start_receiver: StartReceiver, api_for: Callable[[ReceiverThread], Api]
) -> None:
    """Without enable_control, /_control/ does not exist and faults cannot be scripted."""
    api = api_for(start_receiver(enable_control=False))
    reply = await api.request("POST", "/_control/faults", json_body={"path": "*"})
    assert reply.status == 404
    assert (await api.request("GET", "/_control/requests")).status == 404
