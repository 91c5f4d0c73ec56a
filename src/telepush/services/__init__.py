"""The push-service catalogue: one entry per kind of document telepush pushes.

A service is data: a name, a payload model, how to find the document's natural key, and a
default retry policy in the policy shape of the specification (durations as strings). The
domain turns that shape into a ``RetryPolicy``; the receiver kit uses the models to validate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from telepush.errors import InvalidPayload, UnknownService
from telepush.services import models

KeyOf = Callable[[BaseModel, datetime], "str | None"]


@dataclass(frozen=True)
class ServiceSpec:
    """One push service: what it carries and how it is retried by default."""

    name: str
    model: type[BaseModel]
    key_field: str
    key_of: KeyOf
    default_retry: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def validate(self, raw: bytes | str) -> BaseModel:
        """Check ``raw`` (one JSON document) against the model; raise ``InvalidPayload``."""
        try:
            return self.model.model_validate_json(raw)
        except ValidationError as exc:
            raise _invalid(self.name, exc) from None

    def natural_key(self, doc: BaseModel, received_at: datetime) -> str | None:
        return self.key_of(doc, received_at)


def _invalid(service: str, exc: ValidationError) -> InvalidPayload:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "json_invalid":
        ctx = err.get("ctx") or {}
        detail = ctx.get("error", "not valid JSON")
        return InvalidPayload(
            f"{service}: body is not valid JSON ({detail}); send one JSON object",
            code="invalid_json",
        )
    if kind == "model_type" or (not loc and kind.endswith("_type")):
        return InvalidPayload(f"{service}: the document must be a JSON object", code="invalid_json")
    if kind == "missing":
        return InvalidPayload(
            f"{service}: required field '{loc}' is missing", field=loc, code="missing_field"
        )
    return InvalidPayload(f"{service}: field '{loc}': {err.get('msg')}", field=loc)


def _attr(name: str) -> KeyOf:
    def key_of(doc: BaseModel, received_at: datetime) -> str | None:
        value = getattr(doc, name, None)
        return None if value is None else str(value)

    return key_of


def _crash_report_key(doc: BaseModel, received_at: datetime) -> str | None:
    info = getattr(doc, "info", None) or {}
    for name in ("reportId", "crashReportId", "id"):
        value = info.get(name)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return None  # the delivery id stands in


def _diagnosis_key(doc: BaseModel, received_at: datetime) -> str | None:
    day = (getattr(doc, "date", None) or "")[:10] or received_at.date().isoformat()
    return f"{doc.userId}:{day}"  # type: ignore[attr-defined]


_DAILY = {
    "delays": ["1m", "5m", "30m", "2h", "6h"],
    "thenEvery": "24h",
    "maxAttempts": None,
    "maxAge": "30d",
    "jitter": 0.1,
}
_CRASH = {
    "delays": ["10s", "30s", "1m", "2m", "5m", "5m", "5m", "5m", "5m", "5m"],
    "thenEvery": "24h",
    "maxAttempts": None,
    "maxAge": "30d",
    "jitter": 0.1,
}
_DIAGNOSIS = {
    "delays": ["5m", "30m", "2h", "6h"],
    "thenEvery": "24h",
    "maxAttempts": None,
    "maxAge": "7d",
    "jitter": 0.1,
}

CATALOGUE: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("trip", models.Trip, "itinId", _attr("itinId"), _DAILY, "one analysed trip"),
        ServiceSpec(
            "deleted-trip",
            models.DeletedTrip,
            "itinId",
            _attr("itinId"),
            _DAILY,
            "a trip was deleted upstream",
        ),
        ServiceSpec(
            "crash", models.Crash, "crashId", _attr("crashId"), _CRASH, "a confirmed collision"
        ),
        ServiceSpec(
            "crash-report",
            models.CrashReport,
            "info.reportId",
            _crash_report_key,
            _DAILY,
            "full accident report for claims",
        ),
        ServiceSpec(
            "diagnosis",
            models.Diagnosis,
            "userId",
            _diagnosis_key,
            _DIAGNOSIS,
            "phone configuration and status",
        ),
    )
}

SERVICE_NAMES: tuple[str, ...] = tuple(CATALOGUE)


def get_service(name: str) -> ServiceSpec:
    """The catalogue entry for ``name``; ``UnknownService`` names the valid ones."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownService(
            f"unknown service '{name}'; known services: {', '.join(SERVICE_NAMES)}",
            field="service",
        ) from None
