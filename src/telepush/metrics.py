"""Prometheus metrics of a telepush process, in prometheus_client's default ``REGISTRY``.

Counters and histograms are observed where things happen (ingest in ``operations``, outcomes
in the worker, token fetches in the token cache); gauges about the queue are read from the
store at scrape time (``/metrics`` of the API) or every few seconds (``telepush worker`` with
``metrics_port``), through a callable handed in so this module never imports the store.

Counters are per process: with several processes, sum them in PromQL. A delivery sent again
after a crash (at-least-once) is counted again, like the attempt it was.

The hot path is one dict lookup for the (customer, service) children plus an ``inc()`` or two:
labelled children are looked up once and kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from telepush.domain.delivery import Status
from telepush.domain.health import LATENCY_BOUNDS_MS

if TYPE_CHECKING:
    from telepush.domain.delivery import AttemptResult, Claimed, Outcome

log = logging.getLogger("telepush.metrics")

_CS = ("customer", "service")

INGESTED = Counter(
    "telepush_ingested", "Documents accepted for delivery (duplicates excluded).", _CS
)
DELIVERED = Counter("telepush_delivered", "Deliveries accepted by the customer's endpoint.", _CS)
FAILED = Counter(
    "telepush_failed", "Deliveries that ended failed (policy exhausted or unsendable).", _CS
)
RETRIED = Counter("telepush_retried", "Failed attempts rescheduled by the retry policy.", _CS)
REPLAYED = Counter(
    "telepush_replayed", "Failed deliveries put back in the queue by an operator.", _CS
)
ATTEMPTS = Counter(
    "telepush_attempts",
    "Delivery attempts by result: 'ok' or the error kind (timeout, connect, tls, dns, "
    "redirect, auth, blocked, http_status).",
    (*_CS, "result"),
)
# Accepted -> delivered: 10 ms .. 1 day (a retried delivery waits minutes to hours).
LATENCY_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
    3600, 7200, 21600, 43200, 86400,
)  # fmt: skip
DELIVERY_LATENCY = Histogram(
    "telepush_delivery_latency_seconds",
    "From acceptance of a document to its delivery.",
    ("service",),
    buckets=LATENCY_BUCKETS,
)
# One attempt: 5 ms .. 30 s, the buckets endpoint health uses too.
ATTEMPT_BUCKETS = tuple(ms / 1000 for ms in LATENCY_BOUNDS_MS)
ATTEMPT_DURATION = Histogram(
    "telepush_attempt_duration_seconds",
    "Duration of one delivery attempt (token fetch and one renewal re-send included).",
    ("service",),
    buckets=ATTEMPT_BUCKETS,
)
TOKEN_FETCHES = Counter(
    "telepush_token_fetches",
    "OAuth2 token requests to customers' token endpoints, by result (ok, error).",
    ("customer", "result"),
)
QUEUE_DEPTH = Gauge(
    "telepush_queue_depth", "Deliveries in the store by status (read from the store).", ("status",)
)
PAUSED_ENDPOINTS = Gauge(
    "telepush_paused_endpoints", "Endpoints paused by hand or by the circuit breaker."
)
WORKERS_ALIVE = Gauge("telepush_workers_alive", "Worker processes with a recent heartbeat.")


class _Children:
    """The labelled children of one (customer, service), looked up once."""

    __slots__ = (
        "attempts",
        "customer",
        "delivered",
        "duration",
        "failed",
        "ingested",
        "latency",
        "replayed",
        "retried",
        "service",
    )

    def __init__(self, customer: str, service: str) -> None:
        self.customer = customer
        self.service = service
        self.ingested = INGESTED.labels(customer, service)
        self.delivered = DELIVERED.labels(customer, service)
        self.failed = FAILED.labels(customer, service)
        self.retried = RETRIED.labels(customer, service)
        self.replayed = REPLAYED.labels(customer, service)
        self.latency = DELIVERY_LATENCY.labels(service)
        self.duration = ATTEMPT_DURATION.labels(service)
        self.attempts: dict[str, Counter] = {}

    def attempt(self, result: str) -> Counter:
        child = self.attempts.get(result)
        if child is None:
            child = self.attempts[result] = ATTEMPTS.labels(self.customer, self.service, result)
        return child


_children: dict[tuple[str, str], _Children] = {}
_token_children: dict[tuple[str, bool], Counter] = {}


def _of(customer: str, service: str) -> _Children:
    children = _children.get((customer, service))
    if children is None:
        children = _children[(customer, service)] = _Children(customer, service)
    return children


def observe_ingested(customer: str, service: str, n: int = 1) -> None:
    """``n`` documents accepted (not counting duplicates)."""
    if n > 0:
        _of(customer, service).ingested.inc(n)


def observe_replayed(customer: str, service: str, n: int = 1) -> None:
    """``n`` failed deliveries put back by an operator (single retry or a bulk task chunk)."""
    if n > 0:
        _of(customer, service).replayed.inc(n)


def observe_outcome(
    claimed: Claimed,
    result: AttemptResult,
    outcome: Outcome,
    finished_at: datetime | None = None,
) -> None:
    """One attempt and the state it led to (``finished_at`` defaults to the attempt's time)."""
    children = _of(claimed.customer_id, claimed.service)
    children.attempt("ok" if result.ok else str(result.error or "error")).inc()
    children.duration.observe(result.duration_ms / 1000)
    status = outcome.status
    if status is Status.DELIVERED:
        children.delivered.inc()
        at = finished_at if finished_at is not None else outcome.attempt.at
        children.latency.observe(max(0.0, (at - claimed.created_at).total_seconds()))
    elif status is Status.FAILED:
        children.failed.inc()
    else:
        children.retried.inc()


def observe_unsendable(claimed: Claimed) -> None:
    """The delivery ended failed without an attempt (its customer or service is gone)."""
    _of(claimed.customer_id, claimed.service).failed.inc()


def observe_token_fetch(customer: str, ok: bool) -> None:
    """One request to ``customer``'s token endpoint, and whether it gave a token."""
    child = _token_children.get((customer, ok))
    if child is None:
        child = _token_children[(customer, ok)] = TOKEN_FETCHES.labels(
            customer, "ok" if ok else "error"
        )
    child.inc()


@dataclass(frozen=True)
class QueueGauges:
    """What the store says right now; None leaves a gauge as it was."""

    by_status: Mapping[str, int]
    paused_endpoints: int | None = None
    workers_alive: int | None = None


def set_queue_gauges(gauges: QueueGauges) -> None:
    for status, count in gauges.by_status.items():
        QUEUE_DEPTH.labels(str(status)).set(count)
    if gauges.paused_endpoints is not None:
        PAUSED_ENDPOINTS.set(gauges.paused_endpoints)
    if gauges.workers_alive is not None:
        WORKERS_ALIVE.set(gauges.workers_alive)


async def refresh_from_store(read: Callable[[], Awaitable[QueueGauges]]) -> bool:
    """Set the gauges from ``read()`` (e.g. ``Operations.queue_gauges``); False when it failed.

    A failing store leaves the gauges as they were, so the counters are still served."""
    try:
        gauges = await read()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.warning("could not read the queue gauges from the store", exc_info=True)
        return False
    set_queue_gauges(gauges)
    return True


async def refresh_every(
    read: Callable[[], Awaitable[QueueGauges]], stop: asyncio.Event, interval_s: float = 15.0
) -> None:
    """Refresh the gauges now and every ``interval_s`` until ``stop`` is set (a process whose
    metrics nobody scrapes through the API: ``telepush worker``)."""
    while not stop.is_set():
        await refresh_from_store(read)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass
