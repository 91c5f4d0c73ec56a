"""Scripted faults and the request log of the control API (tests and demos only).

A *fault* scripts the answers of one path: ``status`` for the next ``times`` requests
(``times=None``: until cleared), optionally after sleeping ``delay_s`` (a hanging endpoint)
and with a ``Retry-After`` header. ``status=None`` with a delay answers normally, late:
the request is handled (and stored) first, then the answer waits ``delay_s``.
The request log keeps what each request carried, with every secret redacted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ANY_PUSH_PATH = "*"
_SECRET_WORDS = ("secret", "password", "passwd", "token", "key", "auth", "cookie", "session")


class FaultRequest(BaseModel):
    """Body of ``POST /_control/faults``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    status: int | None = Field(default=500, ge=100, le=599)
    times: int | None = Field(default=1, ge=1)
    retryAfter: int | str | None = None
    delayS: float = Field(default=0.0, ge=0.0, le=600.0)
    body: Any = None


class FailStorageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    times: int = Field(default=1, ge=0)


@dataclass
class Fault:
    path: str
    status: int | None
    remaining: int | None
    retry_after: str | None
    delay_s: float
    body: Any
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "remaining": self.remaining,
            "retryAfter": self.retry_after,
            "delayS": self.delay_s,
            "body": self.body,
            "hits": self.hits,
        }


class FaultBoard:
    """The active faults, per path, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: FaultRequest) -> Fault:
        retry_after = None if spec.retryAfter is None else str(spec.retryAfter)
        fault = Fault(spec.path, spec.status, spec.times, retry_after, spec.delayS, spec.body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str, is_push: bool) -> Fault | None:
        """The fault answering this request (one use of it), or ``None``."""
        with self._lock:
            for fault in self._faults:
                if fault.path == path or (is_push and fault.path == ANY_PUSH_PATH):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self, path: str | None = None) -> int:
        with self._lock:
            kept = [f for f in self._faults if path is not None and f.path != path]
            removed = len(self._faults) - len(kept)
            self._faults = kept
        return removed

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_dict() for fault in self._faults]


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers with the value of every secret-looking header replaced."""
    headers: dict[str, str] = {}
    for name_b, value_b in raw:
        name = name_b.decode("latin-1").lower()
        value = value_b.decode("latin-1")
        if name in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0]
            value = f"{scheme} <redacted>"
        elif is_secret_name(name):
            value = "<redacted>"
        headers[name] = value if name not in headers else f"{headers[name]}, {value}"
    return headers


def redact_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {k: ("<redacted>" if is_secret_name(k) else v) for k, v in pairs}


class RequestLog:
    """The last ``size`` requests, oldest first."""

    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)

    def items(self, path: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = [e for e in self._entries if path is None or e["path"] == path]
        return entries[-limit:] if limit else entries

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
