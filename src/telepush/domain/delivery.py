"""Deliveries, attempts, statuses and how an HTTP outcome is classified. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # leased by a worker
    DELIVERED = "delivered"  # accepted by the customer: final
    FAILED = "failed"  # policy exhausted or unrecoverable: kept, can be replayed
    SUPERSEDED = "superseded"  # cancelled by a deletion of the same trip


FINAL_STATUSES = frozenset({Status.DELIVERED, Status.FAILED, Status.SUPERSEDED})


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECT = "connect"
    TLS = "tls"
    DNS = "dns"
    REDIRECT = "redirect"
    AUTH = "auth"  # the token endpoint failed or refused the credentials
    BLOCKED = "blocked"  # destination on a refused network, or not https
    HTTP_STATUS = "http_status"  # the endpoint answered something other than acceptance


# Kinds no retry can fix: the delivery fails at once.
UNRECOVERABLE = frozenset({ErrorKind.BLOCKED})


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt came to. The sender returns it; it never raises."""

    ok: bool
    status_code: int | None = None
    error: ErrorKind | None = None
    detail: str | None = None  # human-readable: exception text, token endpoint reply
    response: str | None = None  # first bytes of the reply
    duration_ms: int = 0
    retry_after_s: float | None = None
    token_renewed: bool = False

    def took(self, duration_ms: int) -> AttemptResult:
        """The same result with ``duration_ms`` (``dataclasses.replace`` costs 3–4 times
        this, once per delivery)."""
        return AttemptResult(
            self.ok,
            self.status_code,
            self.error,
            self.detail,
            self.response,
            duration_ms,
            self.retry_after_s,
            self.token_renewed,
        )


def classify_status(status_code: int, accepted_status: str) -> ErrorKind | None:
    """``None`` when ``status_code`` means accepted under the customer's rule, else the kind.

    Only 200 is acceptance by default; a customer may opt in to any 2xx. A 3xx is a
    redirect (never followed) and every other code a plain HTTP failure.
    """
    if status_code == 200 or (accepted_status == "2xx" and 200 <= status_code < 300):
        return None
    if 300 <= status_code < 400:
        return ErrorKind.REDIRECT
    return ErrorKind.HTTP_STATUS


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    status_code: int | None
    error: ErrorKind | None
    duration_ms: int
    response: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A delivery as read back: metadata, and its attempts when asked for."""

    delivery_id: str
    customer_id: str
    service: str
    key: str | None
    status: Status
    created_at: datetime
    next_attempt_at: datetime | None
    attempt_count: int
    idempotency_key: str | None = None
    updated_at: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class NewDelivery:
    """An accepted document on its way into the queue."""

    delivery_id: str
    customer_id: str
    service: str
    key: str | None
    payload: bytes
    created_at: datetime
    idempotency_key: str | None = None


@dataclass(frozen=True)
class EnqueueResult:
    delivery_id: str
    status: Status
    duplicate: bool = False  # an earlier delivery with the same Idempotency-Key


@dataclass(frozen=True, slots=True)
class StoredPayload:
    """A payload left in the store, to be read by ``seq`` by whoever sends it (a delivery
    process reads a large one itself rather than have it copied through the worker)."""

    seq: int


@dataclass(frozen=True)
class Claimed:
    """A leased delivery handed to a worker: everything needed to send it."""

    delivery_id: str
    customer_id: str
    service: str
    key: str | None
    payload: bytes | StoredPayload
    created_at: datetime
    attempt_number: int  # this attempt's number (1-based)
    customer_revision: int
    manual: bool = False  # put back by an operator: a failure ends it, no policy retry


@dataclass(frozen=True)
class Outcome:
    """What the worker records after an attempt: the attempt, and the delivery's next state."""

    delivery_id: str
    attempt: Attempt
    status: Status  # DELIVERED, PENDING (retry at next_attempt_at) or FAILED
    next_attempt_at: datetime | None = None
    # The delivery's endpoint, whose health figures and failure streak the outcome updates.
    customer_id: str = field(kw_only=True)
    service: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.status not in _OUTCOME_STATUSES:
            raise ValueError(
                f"an outcome's status is delivered, pending or failed, not {self.status}"
            )
        if (self.status is Status.PENDING) != (self.next_attempt_at is not None):
            raise ValueError("an outcome has next_attempt_at exactly when its status is pending")


_OUTCOME_STATUSES = frozenset({Status.DELIVERED, Status.PENDING, Status.FAILED})


# How often a worker process says it is alive; three missed beats mean it is gone.
HEARTBEAT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process as its heartbeats describe it."""

    worker_id: str
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    in_flight: int
