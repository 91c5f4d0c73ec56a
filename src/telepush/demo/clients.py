"""HTTP clients of the demo: telepush's management API and the receiver kit, as a user
would call them (bearer API token; OAuth2 client credentials on the receiver)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from telepush.errors import TelepushError


class DemoError(TelepushError):
    """The demo could not go on: a service answered something it should not have."""

    code = "demo"


@contextlib.contextmanager
def _reaching(what: str) -> Iterator[None]:
    """A connection or protocol error becomes a one-line ``DemoError``."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DemoError(f"{what}: {exc or type(exc).__name__}") from None


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    text = await response.text()
    if response.status >= 300:
        raise DemoError(f"{what}: HTTP {response.status}: {text[:300]}")
    return json.loads(text) if text else None


class ApiClient:
    """telepush's HTTP API (``/v1``), with the demo's API token."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: bytes | None = None) -> Any:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        with _reaching(f"telepush {method} {path}"):
            async with self.session.request(method, url, data=body, headers=headers) as reply:
                return await _json(reply, f"{method} {path}")

    async def put_customer(self, customer_id: str, config: dict[str, Any]) -> Any:
        return await self.call("PUT", f"/v1/customers/{customer_id}", json.dumps(config).encode())

    async def push(self, customer_id: str, service: str, body: bytes) -> str:
        reply = await self.call("POST", f"/v1/customers/{customer_id}/push/{service}", body)
        return str(reply["deliveryId"])

    async def push_batch(self, customer_id: str, service: str, body: bytes) -> list[str]:
        """Delivery ids of a JSON array of documents, in order; any rejection is an error."""
        path = f"/v1/customers/{customer_id}/push/{service}/batch"
        reply = await self.call("POST", path, body)
        for item in reply["items"]:
            if item.get("error"):
                raise DemoError(f"{path}: item {item['index']} rejected: {item['error']}")
        return [str(item["deliveryId"]) for item in reply["items"]]

    async def stats(self) -> dict[str, int]:
        reply = await self.call("GET", "/v1/stats")
        return {str(k): int(v) for k, v in reply["deliveries"].items()}

    async def delivery(self, delivery_id: str) -> dict[str, Any]:
        reply: dict[str, Any] = await self.call("GET", f"/v1/deliveries/{delivery_id}")
        return reply

    async def deliveries(self, customer_id: str) -> list[dict[str, Any]]:
        """Every delivery of ``customer_id``, all pages."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = f"/v1/deliveries?customer={customer_id}&limit=1000"
            page = await self.call("GET", query + (f"&cursor={cursor}" if cursor else ""))
            items.extend(page["items"])
            cursor = page.get("nextCursor")
            if not cursor:
                return items

    async def wait_delivery(
        self, delivery_id: str, done: Callable[[dict[str, Any]], bool], every_s: float = 0.1
    ) -> dict[str, Any]:
        """Poll one delivery until ``done`` holds (the caller bounds the time)."""
        while True:
            delivery = await self.delivery(delivery_id)
            if done(delivery):
                return delivery
            await asyncio.sleep(every_s)


class ReceiverClient:
    """The receiver kit: its read API (OAuth2 bearer) and its test/demo control API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        ca_pem: Path,
        client_id: str,
        client_secret: str,
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.ssl = ssl.create_default_context(cafile=str(ca_pem))
        self.auth = aiohttp.BasicAuth(client_id, client_secret)

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth/token"

    def push_url(self, service: str) -> str:
        return f"{self.base_url}/push/{service}"

    async def token(self) -> str:
        form = {"grant_type": "client_credentials"}
        with _reaching("receiver token"):
            async with self.session.post(
                self.token_url, data=form, auth=self.auth, ssl=self.ssl
            ) as response:
                reply = await _json(response, "receiver token")
        return str(reply["access_token"])

    async def stats(self) -> dict[str, Any]:
        """What the receiver stored and received, per service."""
        headers = {"Authorization": f"Bearer {await self.token()}"}
        url = self.base_url + "/stats"
        with _reaching("receiver stats"):
            async with self.session.get(url, headers=headers, ssl=self.ssl) as response:
                reply: dict[str, Any] = await _json(response, "receiver stats")
        return reply

    async def fault(self, service: str, status: int, times: int | None) -> None:
        """Script the push endpoint of ``service``: ``status`` for ``times`` requests
        (``None``: until cleared)."""
        spec = {"path": f"/push/{service}", "status": status, "times": times}
        await self._control("POST", "/_control/faults", spec)

    async def clear_faults(self, service: str) -> None:
        await self._control("DELETE", f"/_control/faults?path=/push/{service}", None)

    async def _control(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        url = self.base_url + path
        with _reaching(f"receiver {method} {path}"):
            async with self.session.request(method, url, json=body, ssl=self.ssl) as response:
                await _json(response, f"receiver {method} {path}")
