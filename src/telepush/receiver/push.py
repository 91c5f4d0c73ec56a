"""The push endpoints: authenticate, validate, store durably, then (only then) answer 200.

Answers: 200 accepted (also for a duplicate, which is not stored twice); 401 or the
configured reject status for bad credentials; 400 for a body that is not one JSON object;
413 for a body over ``max_body_bytes``; 415 for a non-JSON content type; 422 for a document
that fails its service model; 500 when it could not be stored (so the sender retries).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from telepush.errors import InvalidPayload
from telepush.receiver.auth import Authenticator
from telepush.receiver.replies import authorize, error, json_response, note
from telepush.receiver.settings import ReceiverSettings
from telepush.receiver.storage import Incoming, Storage
from telepush.services import get_service

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
_OFF_LOOP_BYTES = 256 * 1024  # validate larger bodies on a worker thread


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _incoming(service: str, doc: BaseModel, body: bytes, request: Request) -> Incoming:
    headers = request.headers
    delivery_id = headers.get("telepush-delivery-id") or None
    now = datetime.now(UTC)
    key = get_service(service).natural_key(doc, now)
    if key is None:  # crash-report without a report id: the delivery stands in
        key = delivery_id or "sha256:" + hashlib.sha256(body).hexdigest()
    extra: dict[str, Any] = {}
    if service == "deleted-trip":
        extra["date"] = getattr(doc, "date", None)
    elif service == "crash-report":
        info = getattr(doc, "info", None) or {}
        itin_id = info.get("itinId")
        extra["itin_id"] = str(itin_id) if itin_id not in (None, "") else None
    elif service == "diagnosis":
        extra["user_id"] = getattr(doc, "userId", None)
        extra["event_count"] = _event_count(doc)
    return Incoming(
        service=service,
        key=key,
        body=body,
        received_at=now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        delivery_id=delivery_id,
        attempt=headers.get("telepush-attempt"),
        **extra,
    )


def _event_count(doc: BaseModel) -> int:
    """Items in the document's top-level lists (0: an empty diagnosis, a heartbeat)."""
    values = list(doc.__dict__.values()) + list((doc.model_extra or {}).values())
    return sum(len(value) for value in values if isinstance(value, list))


def push_endpoint(
    service: str, settings: ReceiverSettings, auth: Authenticator, storage: Storage
) -> Endpoint:
    """The handler of ``POST <push path>`` for ``service``."""
    spec = get_service(service)
    limit = settings.max_body_bytes
    reject_status = settings.reject_status

    async def push(request: Request) -> Response:
        headers = request.headers
        delivery_id = headers.get("telepush-delivery-id")
        note(
            request,
            service=service,
            deliveryId=delivery_id,
            attempt=headers.get("telepush-attempt"),
            serviceHeader=headers.get("telepush-service"),
        )
        refused = authorize(request, auth, reject_status)
        if refused is not None:
            return refused
        if not _is_json(headers.get("content-type")):
            return error(415, "unsupported_media_type", "send the document as application/json")
        named = headers.get("telepush-service")
        if named and named != service:
            message = f"this endpoint receives '{service}' documents, not '{named}'"
            return error(400, "wrong_service", message, field="Telepush-Service")
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return error(413, "payload_too_large", f"the body exceeds {limit} bytes")
        note(request, bodyBytes=len(body))
        try:
            if len(body) > _OFF_LOOP_BYTES:
                doc = await run_in_threadpool(spec.validate, body)
            else:
                doc = spec.validate(body)
        except InvalidPayload as exc:
            status = 400 if exc.code == "invalid_json" else 422
            return error(status, exc.code, exc.message, field=exc.field)
        item = _incoming(service, doc, body, request)
        try:
            stored = await storage.store(item)
        except Exception as exc:
            log.warning("receiver: could not store %s %s: %s", service, item.key, exc)
            note(request, outcome="storage_failed")
            return error(500, "storage_failed", "the document could not be stored; retry later")
        note(request, outcome=stored.outcome, key=item.key)
        return json_response(
            {
                "status": "accepted",
                "service": service,
                "key": item.key,
                "deliveryId": item.delivery_id,
                "outcome": stored.outcome,
                "duplicate": stored.duplicate,
            }
        )

    return push
