"""The demo's story, told through telepush's real API and the receiver's control API.

1. A customer with OAuth2 and short retry policies for all five services.
2. The trip endpoint goes down (503). A first trip fails, then is deleted upstream: the
   deletion supersedes it (never sent again) and is itself delivered.
3. The trips arrive in batches, while the outage lasts a few more seconds: the trips it hits
   are retried and delivered once it is over.
4. A crash, its crash report (whose endpoint answers 503 three times), diagnoses (one empty).
5. A trip that was already delivered is deleted: the deletion follows it to the receiver.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from telepush.demo.clients import ApiClient, ReceiverClient
from telepush.synth import SERVICES, Synth, to_bytes

CUSTOMER_ID = "demo-fleet"
DEMO_RETRY = {"delays": ["2s", "3s"], "thenEvery": "5s", "jitter": 0.1}
OUTAGE_S = 4.0  # how long the trip endpoint stays down once the first trip is superseded
CRASH_REPORT_FAILURES = 3
BATCH_ITEMS = 20
BATCH_BYTES = 4_000_000
LARGE_EVERY = 40  # one trip in 40 carries 300 KB-1 MB of raw sensor tables

Narrate = Callable[[str], None]


def customer_config(receiver: ReceiverClient, client_id: str, secret: str) -> dict[str, Any]:
    """The demo customer: OAuth2 (with an extra header and query parameter on the token
    request, to show them) and every service with the short demo retry policy."""
    return {
        "name": "Demo Fleet Ltd",
        "auth": {
            "type": "oauth2",
            "url": receiver.token_url,
            "clientId": client_id,
            "clientSecret": secret,
            "headers": {"X-Fleet-Tenant": "demo-fleet"},
            "params": {"audience": "telematics-push"},
        },
        "services": {
            service: {"url": receiver.push_url(service), "retry": DEMO_RETRY}
            for service in SERVICES
        },
    }


def trip_sizes(count: int, seed: int) -> list[int]:
    """Target sizes in bytes: mostly 20-100 KB, one in ``LARGE_EVERY`` 300 KB-1 MB."""
    rng = random.Random(seed)
    return [
        rng.randint(300_000, 1_000_000)
        if i % LARGE_EVERY == LARGE_EVERY // 2
        else rng.randint(20_000, 100_000)
        for i in range(count)
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _weight(total_bytes: int) -> str:
    if total_bytes >= 1_000_000:
        return f"{total_bytes / 1e6:.1f} MB of JSON with raw sensor tables"
    return f"{total_bytes // 1000} KB of JSON with raw sensor tables"


def _short(itin_id: str) -> str:
    return itin_id[:10] + "…"


class Scenario:
    """Feeds the events through the API and scripts the receiver's faults."""

    def __init__(
        self, api: ApiClient, receiver: ReceiverClient, seed: int, events: int, narrate: Narrate
    ) -> None:
        self.api = api
        self.receiver = receiver
        self.synth = Synth(seed)
        self.sizes = trip_sizes(events, seed)
        self.narrate = narrate

    async def configure(self, client_id: str, secret: str) -> None:
        await self.api.put_customer(CUSTOMER_ID, customer_config(self.receiver, client_id, secret))
        self.narrate(
            f"customer [bold]{CUSTOMER_ID}[/bold] configured over the API: OAuth2 via "
            f"{self.receiver.token_url}, 5 services, retries after 2 s, 3 s, then every 5 s"
        )

    async def run(self) -> None:
        await self.receiver.fault("trip", 503, times=None)
        self.narrate("receiver: the [bold]trip[/bold] endpoint is down (503 to every push)")
        await self._superseded_trip(self.sizes[0])
        outage = asyncio.create_task(self._end_outage_later(), name="demo-outage")
        try:
            trips = await self._trips(self.sizes[1:])
            await self._crash_and_diagnoses(trips[0][0] if trips else None)
            await outage
        finally:
            outage.cancel()
        if trips:
            await self._delete_delivered(*trips[-1])

    async def _push(self, service: str, doc: dict[str, Any]) -> str:
        return await self.api.push(CUSTOMER_ID, service, to_bytes(doc))

    async def _superseded_trip(self, size: int) -> None:
        trip = await asyncio.to_thread(self.synth.trip_of_size, size)
        itin = trip["itinId"]
        trip_id = await self._push("trip", trip)
        await self.api.wait_delivery(
            trip_id, lambda d: d["attemptCount"] >= 1 and d["status"] == "pending"
        )
        self.narrate(f"trip {_short(itin)} got 503; telepush will retry it in about 2 s")
        await self._push("deleted-trip", self.synth.deleted_trip(itin))
        await self.api.wait_delivery(trip_id, lambda d: d["status"] == "superseded")
        self.narrate(
            f"trip {_short(itin)} deleted upstream before it got through: [bold]superseded"
            "[/bold] (payload erased, never sent again); its deletion is delivered"
        )

    async def _end_outage_later(self) -> None:
        await asyncio.sleep(OUTAGE_S)
        await self.receiver.clear_faults("trip")
        self.narrate("receiver: the trip endpoint is back up; the failed trips are retried")

    async def _trips(self, sizes: list[int]) -> list[tuple[str, str]]:
        """Push trips in batches; ``(itinId, deliveryId)`` of each, in order."""
        if sizes:
            self.narrate(
                f"queuing {_count(len(sizes), 'more trip')} through /batch, up to {BATCH_ITEMS} "
                f"per request (about {_weight(sum(sizes))})"
            )
        pushed: list[tuple[str, str]] = []
        batch: list[tuple[str, bytes]] = []
        for position, size in enumerate(sizes, start=1):
            trip = await asyncio.to_thread(self.synth.trip_of_size, size)
            batch.append((trip["itinId"], to_bytes(trip)))
            batch_bytes = sum(len(body) for _, body in batch)
            if len(batch) < BATCH_ITEMS and batch_bytes < BATCH_BYTES and position < len(sizes):
                continue
            pushed.extend(await self._push_trips(batch))
            batch = []
        return pushed

    async def _push_trips(self, batch: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        body = b"[" + b",".join(doc for _, doc in batch) + b"]"
        ids = await self.api.push_batch(CUSTOMER_ID, "trip", body)
        return [(itin, delivery_id) for (itin, _), delivery_id in zip(batch, ids, strict=True)]

    async def _crash_and_diagnoses(self, itin_id: str | None) -> None:
        crash = self.synth.crash()
        await self._push("crash", crash)
        await self.receiver.fault("crash-report", 503, times=CRASH_REPORT_FAILURES)
        self.narrate(
            f"receiver: the crash-report endpoint will answer 503 {CRASH_REPORT_FAILURES} times"
        )
        report = self.synth.crash_report(crash_id=crash["crashId"], itin_id=itin_id)
        await self._push("crash-report", report)
        await self._push("diagnosis", self.synth.diagnosis())
        await self._push("diagnosis", self.synth.diagnosis(empty=True))
        await self._push("diagnosis", self.synth.diagnosis())
        self.narrate("a crash, its crash report and 3 diagnoses (one empty: a heartbeat) queued")

    async def _delete_delivered(self, itin_id: str, delivery_id: str) -> None:
        await self.api.wait_delivery(delivery_id, lambda d: d["status"] == "delivered")
        await self._push("deleted-trip", self.synth.deleted_trip(itin_id))
        self.narrate(
            f"trip {_short(itin_id)} was delivered, then deleted upstream: the deletion "
            "follows it, and the receiver drops its copy"
        )
