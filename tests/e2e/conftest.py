"""End-to-end fixtures: a receiver kit and telepush, as real processes over real HTTPS."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.certs import CertFiles
from tests.support.procs import Process, Response, free_port, request, telepush_cmd, wait_until

API_TOKEN = "e2e-api-token"
CLIENT_ID = "acme-client"
CLIENT_SECRET = "acme-s3cret-value"


@dataclass
class Receiver:
    url: str
    proc: Process
    ctx: ssl.SSLContext
    basic: tuple[str, str] | None = None  # Basic mode credentials; else OAuth2 client ones

    def read_auth(self) -> str:
        """An Authorization header for the read API, as an integrator would get one."""
        if self.basic is not None:
            raw = f"{self.basic[0]}:{self.basic[1]}"
            return "Basic " + base64.b64encode(raw.encode()).decode()
        raw = f"{CLIENT_ID}:{CLIENT_SECRET}"
        resp = request(
            "POST",
            self.url + "/oauth/token",
            body=b"grant_type=client_credentials",
            headers={
                "Authorization": "Basic " + base64.b64encode(raw.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            context=self.ctx,
        )
        assert resp.status == 200, resp.body
        return "Bearer " + resp.json()["access_token"]

    def get(self, path: str) -> Any:
        resp = request(
            "GET", self.url + path, context=self.ctx, headers={"Authorization": self.read_auth()}
        )
        assert resp.status == 200, (path, resp.status, resp.body[:300])
        return resp.json()

    def control(self, method: str, path: str, body: dict | None = None) -> Any:
        resp = request(method, f"{self.url}/_control/{path}", body=body, context=self.ctx)
        assert resp.status < 300, (path, resp.status, resp.body[:300])
        return resp.json() if resp.body else None

    def fault(self, path: str, status: int, times: int | None = 1, **extra: Any) -> None:
        self.control("POST", "faults", {"path": path, "status": status, "times": times, **extra})

    def requests(self) -> list[dict[str, Any]]:
        data = self.control("GET", "requests")
        return list(data["items"])


@dataclass
class Telepush:
    url: str
    proc: Process
    env: dict[str, str]
    data_dir: Path
    headers: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {API_TOKEN}"}
    )

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        return request(
            method, self.url + path, body=body, headers={**self.headers, **(headers or {})}
        )

    def put_customer(self, customer_id: str, config: dict[str, Any]) -> dict[str, Any]:
        resp = self.call("PUT", f"/v1/customers/{customer_id}", config)
        assert resp.status in (200, 201), resp.body
        return resp.json()

    def push(
        self,
        customer_id: str,
        service: str,
        doc: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
    ) -> str:
        resp = self.call("POST", f"/v1/customers/{customer_id}/push/{service}", doc, headers)
        assert resp.status == 202, resp.body
        return str(resp.json()["deliveryId"])

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        resp = self.call("GET", f"/v1/deliveries/{delivery_id}")
        assert resp.status == 200, resp.body
        return resp.json()  # type: ignore[no-any-return]

    def wait_status(
        self, delivery_id: str, *statuses: str, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        return wait_until(
            lambda: (d := self.delivery(delivery_id))["status"] in statuses and d,
            timeout_s=timeout_s,
            what=f"delivery {delivery_id} to be {statuses}",
        )


def client_context(certs: CertFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca_pem))


StartReceiver = Callable[..., Receiver]
StartTelepush = Callable[..., Telepush]


@pytest.fixture
def start_receiver(certs: CertFiles, tmp_path: Path) -> Iterator[StartReceiver]:
    """Start receiver-kit processes over HTTPS with the test CA's certificate."""
    started: list[Process] = []

    def start(name: str = "receiver", *extra: str) -> Receiver:
        port = free_port()
        args = telepush_cmd(
            "receiver",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database",
            str(tmp_path / f"{name}.db"),
            "--cert",
            str(certs.cert_pem),
            "--key",
            str(certs.key_pem),
            "--control",
            "--log-level",
            "warning",
            *extra,
        )
        if "--auth" not in extra:
            args += ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
        proc = Process(args, {}, tmp_path / f"{name}.log").start()
        started.append(proc)
        basic = None
        if "--auth" in extra and "basic" in extra:
            basic = (extra[extra.index("--username") + 1], extra[extra.index("--password") + 1])
        rec = Receiver(f"https://127.0.0.1:{port}", proc, client_context(certs), basic)
        wait_until(
            lambda: _answers(rec.url + "/healthz", rec.ctx, proc),
            timeout_s=30,
            what=f"receiver {name} to answer",
        )
        return rec

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def start_telepush(certs: CertFiles, tmp_path: Path) -> Iterator[StartTelepush]:
    """Start `telepush serve` processes on SQLite, trusting the test CA."""
    started: list[Process] = []

    def start(
        name: str = "telepush",
        *,
        data_dir: Path | None = None,
        allow_private: bool = True,
        **settings: Any,
    ) -> Telepush:
        port = free_port()
        data = data_dir or tmp_path / f"{name}-data"
        env = {
            "TELEPUSH_DATA_DIR": str(data),
            "TELEPUSH_API_TOKEN": API_TOKEN,
            "TELEPUSH_CA_BUNDLE": str(certs.ca_pem),
            "TELEPUSH_ALLOW_PRIVATE_NETWORKS": "true" if allow_private else "false",
            "TELEPUSH_PORT": str(port),
            "TELEPUSH_POLL_INTERVAL_S": "0.2",
            "TELEPUSH_CONNECT_TIMEOUT_S": "2",
            "TELEPUSH_TOTAL_TIMEOUT_S": "5",
            "TELEPUSH_LEASE_S": "10",
            "TELEPUSH_SHUTDOWN_GRACE_S": "3",
            **{f"TELEPUSH_{k.upper()}": str(v) for k, v in settings.items()},
        }
        proc = Process(telepush_cmd("serve"), env, tmp_path / f"{name}.log").start()
        started.append(proc)
        tp = Telepush(f"http://127.0.0.1:{port}", proc, env, data)
        wait_until(
            lambda: _answers(tp.url + "/healthz", None, proc),
            timeout_s=30,
            what=f"telepush {name} to answer",
        )
        return tp

    yield start
    for proc in started:
        proc.stop()


def _answers(url: str, ctx: ssl.SSLContext | None, proc: Process) -> bool:
    if not proc.alive():
        raise AssertionError(f"process exited early:\n{proc.log()[-3000:]}")
    try:
        return request("GET", url, context=ctx, timeout_s=2).status == 200
    except OSError:
        return False


def oauth2_customer(
    receiver: Receiver,
    services: tuple[str, ...] = ("trip", "deleted-trip", "crash", "crash-report", "diagnosis"),
    **over: Any,
) -> dict[str, Any]:
    """A customer of ``receiver`` with OAuth2 and fast retries (1 s) for every service."""
    retry = {"delays": ["1s"], "thenEvery": "1s", "jitter": 0}
    config: dict[str, Any] = {
        "name": "Acme Fleet",
        "auth": {
            "type": "oauth2",
            "url": receiver.url + "/oauth/token",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
        },
        "services": {s: {"url": f"{receiver.url}/push/{s}", "retry": retry} for s in services},
    }
    config.update(over)
    return config
