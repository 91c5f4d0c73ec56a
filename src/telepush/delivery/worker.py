"""The worker: claim due deliveries with a lease, send them, record outcomes in batches.

    claim (one query, many rows) -> send each (outside any transaction) -> decide next state
    -> collect outcomes -> record them together, in the next claim's transaction (or alone
    when no claim comes within a few ms)

In-flight work is bounded globally (``max_in_flight``) and per customer endpoint, so a hung
endpoint holds at most its own slots. Per endpoint, the store's claim counts live leases
(less, on SQLite, the attempts this worker has finished and not recorded yet). On SQLite,
where one process serves the queue, the worker also claims ahead: up to ``prefetch`` (twice
the per-endpoint limit) more leases of a healthy endpoint than it may send at once, which
wait in ``EndpointSlots`` (the limit on requests in flight is kept there) so that a slot
that comes free while the next claim is on its way (a few ms: a claim commits) is refilled
at once. With delivery processes the limit is kept in the delivery process instead, which
then refills a slot the moment a reply is in (``lanes``).
A crash between a 200 and its record means the delivery is sent again after its lease
expires (at-least-once; receivers de-duplicate on ``Telepush-Delivery-Id``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable
from datetime import datetime

from telepush import metrics
from telepush.delivery.recorder import Recorder
from telepush.delivery.sender import PushRequest, Sender
from telepush.delivery.slots import EndpointSlots
from telepush.domain.customer import Customer
from telepush.domain.delivery import Claimed
from telepush.domain.outcome import decide, unsendable
from telepush.domain.policy import RetryPolicy
from telepush.store.base import Store

log = logging.getLogger("telepush.worker")

# How long outcomes wait for the next claim to record them before the recorder does.
RECORD_LINGER_S = 0.01

# Leases claimed ahead of a healthy endpoint's free slots, per slot (SQLite only). Sampled
# at each claim of a 64-slot drain: with half the limit ahead, no delivery was waiting when
# a claim returned and ~44 requests were in flight on average; with the limit, 53; with
# twice the limit, 64 (docs/benchmarks.md, fourth pass).
PREFETCH_PER_SLOT = 2

# With delivery processes that read payloads from the store's file, a claim leaves payloads
# longer than this in the store: each would otherwise be read on the store's writer thread,
# then copied through this process and the socket to the delivery process (1 MB trips:
# 0.38 of the bare client's MB/s, 0.75–0.80 read by the delivery process; docs/benchmarks.md).
# A shorter one comes with the claim, cheaper than a query of its own.
INLINE_PAYLOAD_MAX = 64 * 1024


class Worker:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        *,
        worker_id: str,
        clock: Callable[[], datetime],
        lease_s: float,
        max_in_flight: int = 256,
        per_endpoint_limit: int = 16,
        claim_batch: int = 200,
        poll_interval_s: float = 1.0,
        shutdown_grace_s: float = 10.0,
        rng: random.Random | None = None,
        pause_after: int = 0,
        probe_interval_s: float = 30.0,
    ) -> None:
        """``pause_after`` > 0 arms the circuit breaker: an endpoint is paused after that
        many consecutive failed attempts, then probed with one delivery every
        ``probe_interval_s`` until one succeeds."""
        self.store = store
        self.sender = sender
        self.worker_id = worker_id
        self.clock = clock
        self.lease_s = lease_s
        self.max_in_flight = max_in_flight
        self.per_endpoint_limit = per_endpoint_limit
        self.claim_batch = claim_batch
        self.poll_interval_s = poll_interval_s
        self.shutdown_grace_s = shutdown_grace_s
        self.rng = rng or random.Random()
        self.probe_interval_s = probe_interval_s
        # Outcomes are recorded along with the next claim, or by the recorder when no claim
        # takes them; recording them frees room under ``max_in_flight``, so it wakes the
        # worker. (Per endpoint, attempts that are over do not count against the limit.)
        self.recorder = Recorder(
            store,
            worker_id=worker_id,
            on_recorded=self.wake,
            pause_after=pause_after,
            # waiting for a claim to take the outcomes only pays when claims record them
            linger_s=RECORD_LINGER_S if store.records_in_claim else 0.0,
        )
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        # Claiming ahead pays where a claim round trip is the wait (SQLite: one process);
        # on PostgreSQL the leases a worker holds unsent would be kept from other workers.
        self.prefetch = PREFETCH_PER_SLOT * per_endpoint_limit if store.records_in_claim else 0
        # With delivery processes, which keep the per-endpoint limit on requests themselves,
        # every lease is handed over at once and its delivery process starts it as soon as
        # the endpoint has room, without a round trip to this process.
        self._sender_limits = sender.limits_endpoints
        # (the sender reads the store's own file: runtime gives it ``store.payload_file``;
        # a store without one carries every payload whatever is asked)
        self._inline_payload_max = INLINE_PAYLOAD_MAX if sender.reads_stored_payloads else None
        slots = per_endpoint_limit + (self.prefetch if self._sender_limits else 0)
        self._slots = EndpointSlots(slots, self._start)
        self._holding: set[str] = set()  # started, and holding their endpoint's slot
        self._customers: dict[str, Customer] = {}
        self._policies: dict[tuple[str, int, str], RetryPolicy] = {}

    def wake(self) -> None:
        """New work may be due (called by in-process ingest)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then finish or release what is in flight."""
        try:
            await self.store.refresh_statistics()
        except Exception as exc:  # claims work without it, planned on older statistics
            log.warning("could not refresh the queue's statistics: %s", exc)
        recorder_task = asyncio.create_task(self.recorder.run(), name="telepush-recorder")
        try:
            await self._loop(stop)
        finally:
            await self._drain()
            await self.recorder.close()
            await recorder_task

    async def _loop(self, stop: asyncio.Event) -> None:
        stop_wait = asyncio.create_task(stop.wait())
        carry_at = 0.0  # after a failed claim, outcomes are left to the recorder until then
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                claimed = 0
                free = (
                    self.max_in_flight
                    - len(self._in_flight)
                    - self._slots.waiting
                    - self.recorder.unrecorded
                )
                if free > 0:
                    try:
                        carry = self.store.records_in_claim and loop.time() >= carry_at
                        claimed = await self._claim(min(free, self.claim_batch), carry=carry)
                    except Exception:
                        carry_at = loop.time() + self.poll_interval_s
                        log.exception("claim failed; retrying after %.1fs", self.poll_interval_s)
                if claimed and claimed == min(free, self.claim_batch):
                    await asyncio.sleep(0)  # more is probably due: claim again at once
                    continue
                # (a wake during the claim is dropped here: claiming again at once after
                # every event would keep this worker holding the endpoints' claim locks on
                # PostgreSQL, and other workers, which skip locked endpoints, out)
                self._wake.clear()
                wake = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {wake, stop_wait},
                    timeout=self.poll_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                wake.cancel()
        finally:
            stop_wait.cancel()

    async def _claim(self, limit: int, *, carry: bool = True) -> int:
        """Claim up to ``limit``; with ``carry``, the outcomes waiting to be recorded go
        along (the SQLite store records them in the claim's transaction)."""
        carried = self.recorder.take() if carry else []
        try:
            batch = await self.store.claim(
                now=self.clock(),
                worker_id=self.worker_id,
                lease_s=self.lease_s,
                per_endpoint_limit=self.per_endpoint_limit,
                prefetch=self.prefetch,
                inline_payload_max=self._inline_payload_max,
                limit=limit,
                probe_interval_s=self.probe_interval_s,
                # attempts over but not recorded yet hold no request to their endpoint
                finished=self.recorder.unrecorded_ids(),
                record=carried,
                pause_after=self.recorder.pause_after,
            )
        except BaseException:
            self.recorder.give_back(carried)
            raise
        self.recorder.written(carried)
        for item in batch:
            self._slots.add(item)
        return len(batch)

    def _start(self, item: Claimed) -> None:
        self._holding.add(item.delivery_id)
        task = asyncio.create_task(self._deliver(item))
        self._in_flight[item.delivery_id] = task
        task.add_done_callback(functools.partial(self._done, item))

    def _done(self, item: Claimed, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(item.delivery_id, None)
        self._free_slot(item)  # if the attempt did not already
        self._wake.set()  # a slot is free

    def _free_slot(self, item: Claimed) -> None:
        """``item``'s request is over: its endpoint's next waiting delivery may start (once
        per item: as soon as the reply is in, or when the attempt ends without one)."""
        if item.delivery_id in self._holding:
            self._holding.remove(item.delivery_id)
            self._slots.done(item)

    async def _customer(self, item: Claimed) -> Customer | None:
        cached = self._customers.get(item.customer_id)
        if cached is not None and cached.revision == item.customer_revision:
            return cached
        customer = await self.store.get_customer(item.customer_id)
        if customer is not None:
            self._customers[item.customer_id] = customer
        return customer

    def _policy(self, customer: Customer, service: str) -> RetryPolicy:
        """The customer's policy for ``service``, built once per customer revision."""
        key = (customer.customer_id, customer.revision, service)
        policy = self._policies.get(key)
        if policy is None:
            if len(self._policies) > 4096:
                self._policies.clear()
            policy = self._policies[key] = customer.config.retry_policy(service)
        return policy

    async def _deliver(self, item: Claimed) -> None:
        try:
            customer = await self._customer(item)
            service = customer.config.services.get(item.service) if customer else None
            if customer is None or service is None:
                reason = f"customer '{item.customer_id}' or its '{item.service}' service is gone"
                self.recorder.add(unsendable(item, reason, finished_at=self.clock()))
                metrics.observe_unsendable(item)
                return
            request = PushRequest(
                url=service.url,
                service=item.service,
                delivery_id=item.delivery_id,
                attempt_number=item.attempt_number,
                payload=item.payload,
                customer_id=item.customer_id,
                customer_revision=customer.revision,
                auth=customer.config.auth,
                accepted_status=customer.config.accepted_status,
                endpoint_limit=self.per_endpoint_limit if self._sender_limits else 0,
            )
            try:
                result = await self.sender.send(request)
            finally:
                # the next request to the endpoint need not wait for this one's bookkeeping
                self._free_slot(item)
            policy = self._policy(customer, item.service)
            outcome = decide(item, result, policy, finished_at=self.clock(), rng=self.rng)
            self.recorder.add(outcome)
            metrics.observe_outcome(item, result, outcome)
            level = logging.DEBUG if result.ok else logging.INFO
            if not log.isEnabledFor(level):
                return
            log.log(
                level,
                "delivery %s customer=%s service=%s attempt=%d -> %s (code=%s error=%s)",
                item.delivery_id,
                item.customer_id,
                item.service,
                item.attempt_number,
                outcome.status,
                result.status_code,
                result.error,
                extra={
                    "delivery_id": item.delivery_id,
                    "customer_id": item.customer_id,
                    "service": item.service,
                    "attempt": item.attempt_number,
                    "outcome": str(outcome.status),
                    "status_code": result.status_code,
                    "error": None if result.error is None else str(result.error),
                    "duration_ms": result.duration_ms,
                },
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug, not a delivery failure: leave the lease to expire and the row to retry.
            log.exception("unexpected error delivering %s", item.delivery_id)

    async def _drain(self) -> None:
        """Release what was claimed and not started; let in-flight attempts finish within
        the grace period; release the rest."""
        unstarted = [item.delivery_id for item in self._slots.take_waiting()]
        unfinished: list[str] = []
        if self._in_flight:
            tasks = dict(self._in_flight)
            _, pending = await asyncio.wait(tasks.values(), timeout=self.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            unfinished = [d for d, t in tasks.items() if t in pending]
        unfinished += unstarted
        if not unfinished:
            return
        try:
            await self.store.release(unfinished, worker_id=self.worker_id, now=self.clock())
            log.info("released %d unfinished deliveries", len(unfinished))
        except Exception:
            log.exception("could not release %d leases; they expire by themselves", len(unfinished))
