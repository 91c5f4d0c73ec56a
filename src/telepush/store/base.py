"""The Store protocol: the only door to persistence, spoken in the domain's verbs.

Every backend (SQLite now, PostgreSQL next) implements it and passes the same contract suite
in ``tests/contract``. Times are aware UTC datetimes passed in by the caller (so tests drive a
fake clock); durations are plain numbers of seconds. A backend never reads settings.

Queue model: a delivery row is ``pending`` with ``due_at`` = its next attempt time, or
``sending`` with ``due_at`` = its lease expiry. One index on
(customer_id, service, status, due_at) serves both: claiming takes rows that are due in either
state, so an expired lease is reclaimed by the very query that claims new work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from telepush.domain.customer import Customer, CustomerConfig
from telepush.domain.delivery import (
    Claimed,
    Delivery,
    EnqueueResult,
    NewDelivery,
    Outcome,
    Status,
    WorkerInfo,
)
from telepush.domain.health import EndpointHealth, MinuteStats
from telepush.domain.retention import PurgeCutoffs, PurgeResult
from telepush.domain.tasks import Task


@dataclass(frozen=True)
class DeliveryFilter:
    customer_id: str | None = None
    service: str | None = None
    status: Status | None = None
    key: str | None = None  # the natural key: itinId, crashId, ...


@dataclass(frozen=True)
class Page:
    items: list[Delivery]
    next_cursor: str | None


@runtime_checkable
class Store(Protocol):
    records_in_claim: bool
    """True when ``claim(record=...)`` records and claims in one transaction (SQLite): the
    worker then hands its outcomes to its next claim. False (PostgreSQL): outcomes are
    recorded on their own, and a worker's slots come free on record, leaving other workers
    the chance to claim a busy endpoint."""

    payload_file: str | None
    """A SQLite file that other processes may read payloads from (``PayloadReader``), so a
    claim can hand large ones over as ``StoredPayload``; None (PostgreSQL): every claim
    carries its payloads."""

    # ---- lifecycle -------------------------------------------------------------------
    async def open(self) -> None:
        """Connect. Does not change the schema (see ``migrate``)."""

    async def close(self) -> None:
        """Finish pending writes and disconnect."""

    async def refresh_statistics(self) -> None:
        """Let the database's query planner see the queue as it is now; a worker calls it
        as it starts, typically after a backlog was loaded. PostgreSQL: ``ANALYZE`` of the
        deliveries when they hold rows the planner has not seen (never analysed, or more
        than doubled since); with statistics from before a bulk load, the claim's count of
        live leases was planned on the wrong index and read every row of the endpoint.
        SQLite: nothing (its plans for the claim do not depend on statistics)."""

    async def migrate(self) -> list[str]:
        """Bring the schema up to date; return the names of the migrations applied now.

        Safe to run twice and from concurrent processes."""

    async def check_schema(self) -> None:
        """Raise ``MigrationError`` (saying to run ``telepush migrate``) when behind."""

    # ---- customers -------------------------------------------------------------------
    async def put_customer(
        self, customer_id: str, config: CustomerConfig, now: datetime
    ) -> tuple[Customer, bool]:
        """Create or replace; secrets encrypted at rest. Returns (customer, created)."""

    async def get_customer(self, customer_id: str) -> Customer | None: ...

    async def list_customers(self) -> list[Customer]: ...

    async def delete_customer(self, customer_id: str, now: datetime) -> bool:
        """Remove the customer and its secrets; its unfinished deliveries end ``failed`` and
        every payload of it is erased. False when there was no such customer."""

    # ---- OAuth2 tokens shared by every process -----------------------------------------
    async def get_token(
        self, customer_id: str, revision: int, now: datetime
    ) -> tuple[str, datetime] | None:
        """The customer's bearer token fetched for ``revision``, decrypted, with its expiry;
        None when there is none or it has expired (``expires_at <= now``). Pass ``now`` plus
        a safety margin to get only tokens that will outlive a request."""

    async def put_token(
        self,
        customer_id: str,
        revision: int,
        token: str,
        expires_at: datetime,
        *,
        fetched_by: str | None = None,
    ) -> None:
        """Share a freshly fetched token, encrypted at rest, replacing the customer's previous
        one. Ignored when the customer no longer exists at ``revision``. ``fetched_by``
        (default: this host and process id) says who fetched it, for operators."""

    async def drop_token(self, customer_id: str, revision: int, token: str) -> None:
        """Forget the customer's token if it is still ``token`` (it was refused): a newer one
        another process has stored meanwhile stays."""

    # ---- worker heartbeats -----------------------------------------------------------
    async def heartbeat(
        self, worker_id: str, now: datetime, *, host: str, pid: int, in_flight: int
    ) -> None:
        """Record that ``worker_id`` is alive (created on its first beat)."""

    async def forget_worker(self, worker_id: str) -> None:
        """The worker stopped cleanly: remove its row."""

    async def list_workers(self) -> list[WorkerInfo]:
        """Every worker that has beaten and not stopped cleanly, oldest first."""

    # ---- ingest ----------------------------------------------------------------------
    async def enqueue(self, items: Sequence[NewDelivery]) -> list[EnqueueResult]:
        """Durably queue ``items`` (committed before returning), one result per item in order.

        - same (customer, service, idempotency_key) as an earlier delivery: that delivery's id
          and status come back with ``duplicate=True`` and nothing is written;
        - a ``deleted-trip``: every ``pending`` ``trip`` of the same customer and key becomes
          ``superseded`` and its payload is erased (deletion wins).
        Concurrent calls may be committed together (group commit)."""

    # ---- work ------------------------------------------------------------------------
    async def claim(
        self,
        *,
        now: datetime,
        worker_id: str,
        lease_s: float,
        per_endpoint_limit: int,
        limit: int,
        probe_interval_s: float = 30.0,
        finished: Sequence[str] = (),
        record: Sequence[Outcome] = (),
        pause_after: int = 0,
        prefetch: int = 0,
        inline_payload_max: int | None = None,
    ) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries, at most ``per_endpoint_limit`` in flight per
        (customer, service) counting live leases of every worker; endpoints are served in
        turn so none takes another's share. A ``deleted-trip`` is not claimed while a
        ``trip`` of the same customer and key is being sent. Each claim increments the
        delivery's attempt count.

        ``finished``: ids of deliveries whose attempt the caller has finished but whose
        outcome it has not recorded yet. Their leases still stand (they end when the outcome
        is recorded, or expire) but no request of theirs is in flight any more, so the
        SQLite store does not count them against ``per_endpoint_limit`` of a running
        endpoint. PostgreSQL counts them: there several workers share an endpoint, and one
        refilling its slots the moment its attempts end would keep the others out.

        ``prefetch``: up to this many leases more than ``per_endpoint_limit`` for an endpoint
        whose last attempt succeeded (no failure streak), for a caller that keeps the limit
        on requests itself and starts them as its slots free (SQLite's single worker, which
        so fills a freed slot without waiting for a claim). PostgreSQL ignores it.

        ``inline_payload_max``: payloads longer than this many bytes are not read but
        handed over as ``StoredPayload`` (their ``seq``), for a caller whose delivery
        processes read them from ``payload_file`` themselves. Only with a ``payload_file``;
        PostgreSQL ignores it.

        ``record``: outcomes to record first, exactly as ``record(record, pause_after=...)``
        would. The SQLite store does both in one transaction (if the claim fails nothing is
        recorded); PostgreSQL records in a transaction of its own first, and then a failing
        claim is logged and claims nothing, so an error always means "not recorded".

        Paused endpoints: nothing is claimed for one paused by hand; for one paused by the
        breaker, a single probe (its oldest due delivery) when ``probe_at`` has come and
        nothing of it is in flight, and ``probe_at`` moves ``probe_interval_s`` on."""

    async def record(
        self, outcomes: Sequence[Outcome], *, worker_id: str, pause_after: int = 0
    ) -> None:
        """Write attempts and next states in one transaction. A ``trip`` outcome to retry
        becomes ``superseded`` (payload erased) if a deletion of it has arrived.

        Also keeps each endpoint's health: per-minute figures, last success and failure, the
        streak of consecutive failed attempts (an attempt with an error; an unsendable
        outcome does not count). A success ends the streak and closes the breaker; with
        ``pause_after`` > 0, a streak reaching it pauses the endpoint (``breaker``) with
        ``probe_at`` unset: the next claim schedules its first probe ``probe_interval_s``
        later."""

    async def release(self, delivery_ids: Sequence[str], *, worker_id: str, now: datetime) -> None:
        """Give leases back unsent (graceful stop): pending, due now, attempt not counted."""

    async def next_due_at(self) -> datetime | None:
        """Earliest ``due_at`` among pending and sending deliveries, for a worker's sleep."""

    # ---- read back and replay ----------------------------------------------------------
    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        """The delivery with its attempts, oldest first."""

    async def list_deliveries(
        self, filt: DeliveryFilter, *, limit: int, cursor: str | None
    ) -> Page:
        """Newest first; ``cursor`` is opaque (from a previous page). Attempts not filled."""

    async def retry_delivery(self, delivery_id: str, now: datetime) -> Delivery:
        """``failed`` -> ``pending``, due now, marked manual (a failed attempt then ends it
        failed again). ``NotFound``; ``Conflict`` if not failed or its payload is gone."""

    async def count_by_status(self) -> dict[Status, int]: ...

    # ---- endpoint health and pausing ---------------------------------------------------
    async def set_paused(self, customer_id: str, service: str, paused: bool, now: datetime) -> bool:
        """Pause (``manual``) or resume an endpoint by hand; resuming also ends its failure
        streak and breaker. False when the customer has no such service."""

    async def endpoint_health(
        self, *, now: datetime, since: datetime, customer_id: str | None = None
    ) -> list[EndpointHealth]:
        """Every configured endpoint (of one customer, if given) with figures since
        ``since``, ordered by customer and service."""

    async def throughput(
        self, *, since: datetime, customer_id: str | None = None
    ) -> list[MinuteStats]:
        """Per-minute figures summed over endpoints, oldest first; minutes with nothing
        done are left out."""

    # ---- bulk replay tasks -----------------------------------------------------------------
    async def start_retry_task(
        self,
        task_id: str,
        customer_id: str,
        service: str,
        now: datetime,
        *,
        failed_from: datetime | None = None,
        failed_to: datetime | None = None,
    ) -> Task:
        """Create a task re-queueing the endpoint's failed deliveries that still have their
        payload (and, in the time-window form, ended failed within [from, to)), counting
        them into ``nb_items``; with nothing to do the task is created ``done``. ``Conflict``
        while another task for the same customer and service runs."""

    async def advance_task(self, task_id: str, now: datetime, *, chunk: int = 500) -> Task:
        """Re-queue the task's next ``chunk`` deliveries (pending, due now, marked manual)
        in one transaction; the task becomes ``done`` after its last chunk. ``NotFound``."""

    async def fail_task(self, task_id: str, error: str, now: datetime) -> None:
        """Mark a running task ``failed`` with ``error`` (it can be started again)."""

    async def get_task(self, task_id: str) -> Task | None: ...

    async def list_tasks(self, *, limit: int = 50) -> list[Task]:
        """Newest first."""

    async def stalled_tasks(self, updated_before: datetime) -> list[Task]:
        """Running tasks no process has advanced since ``updated_before`` (theirs died)."""

    # ---- retention -----------------------------------------------------------------------
    async def purge(self, cutoffs: PurgeCutoffs, *, chunk: int = 5000) -> PurgeResult:
        """Erase payloads of deliveries that ended delivered before ``delivered_before`` or
        failed before ``failed_before``; remove final deliveries (with their attempts) that
        ended before ``metadata_before`` and figures of minutes before ``figures_before``.
        Works in transactions of ``chunk`` rows so the queue keeps moving."""

    async def compact(self, *, full: bool = False) -> None:
        """Make erasure physical. SQLite: no erased bytes left in the database's files
        (secure_delete zeroes them as they are deleted, then a WAL checkpoint truncates the
        log). PostgreSQL: VACUUM prunes the dead rows that held them and makes their space
        reusable; it cannot promise the bytes are gone from disk (see docs/postgres.md).
        ``full``: rebuild the files (SQLite VACUUM, PostgreSQL VACUUM FULL), which blocks
        writers while it runs."""
