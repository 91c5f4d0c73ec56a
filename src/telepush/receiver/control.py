"""The control API (``/_control/``): scripted faults, storage failures, token revocation
and a log of every request received.

It has NO authentication and exists for tests and demos: it is mounted only when
``ReceiverSettings.enable_control`` is true and must never be enabled in production.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telepush.receiver.auth import TokenIssuer, auth_scheme
from telepush.receiver.faults import (
    FailStorageRequest,
    FaultBoard,
    FaultRequest,
    RequestLog,
    elapsed_ms,
    now_iso,
    redact_headers,
    redact_params,
)
from telepush.receiver.storage import Storage

PREFIX = "/_control"


@dataclass
class ControlState:
    storage: Storage
    tokens: TokenIssuer
    push_paths: frozenset[str]
    scripted_paths: frozenset[str]  # push paths and the token path
    faults: FaultBoard = field(default_factory=FaultBoard)
    log: RequestLog = field(default_factory=lambda: RequestLog(10_000))


class ControlMiddleware:
    """Applies scripted faults and logs every request (but the control API's own)."""

    def __init__(self, app: ASGIApp, control: ControlState) -> None:
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        answered: dict[str, Any] = {"status": None}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        fault = None
        if path in self.control.scripted_paths:
            fault = self.control.faults.take(path, is_push=path in self.control.push_paths)
        try:
            if fault is not None and fault.status is None and fault.delay_s:
                # Answer normally, but late: the work is done (and committed) first, so a
                # client that gives up meanwhile will send a duplicate.
                delay_s = fault.delay_s

                async def send_late(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        await asyncio.sleep(delay_s)
                    await send_logged(message)

                await self.app(scope, receive, send_late)
                return
            if fault is not None and fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault is not None and fault.status is not None:
                await _drain(receive)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                body = fault.body if fault.body is not None else {"error": {"code": "fault"}}
                response = JSONResponse(body, status_code=fault.status, headers=headers)
                await response(scope, receive, send_logged)
            else:
                await self.app(scope, receive, send_logged)
        finally:
            self.control.log.add(_entry(scope, answered["status"], started, fault, state))


def _entry(
    scope: Scope, status: int | None, started: float, fault: object, state: dict[str, Any]
) -> dict[str, Any]:
    raw_headers = list(scope.get("headers", []))
    authorization = next((v for k, v in raw_headers if k.lower() == b"authorization"), None)
    query = scope.get("query_string", b"").decode("latin-1")
    entry: dict[str, Any] = {
        "at": now_iso(),
        "method": scope.get("method"),
        "path": scope.get("path"),
        "query": redact_params(parse_qsl(query, keep_blank_values=True)),
        "headers": redact_headers(raw_headers),
        "authScheme": auth_scheme(authorization.decode("latin-1") if authorization else None),
        "status": status,
        "durationMs": elapsed_ms(started),
        "fault": fault is not None,
    }
    entry.update(state.get("log") or {})
    return entry


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _bad(exc: ValidationError | ValueError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "invalid_request", "message": str(exc)}}, status_code=400
    )


M = TypeVar("M", bound=BaseModel)


async def _parse(request: Request, model: type[M]) -> M:
    raw = await request.body()
    return model.model_validate_json(raw or b"{}")


def control_routes(control: ControlState) -> list[Route]:
    """The ``/_control/`` routes (no authentication: never enable in production)."""

    async def add_fault(request: Request) -> Response:
        try:
            spec = await _parse(request, FaultRequest)
        except ValidationError as exc:
            return _bad(exc)
        if spec.path != "*" and spec.path not in control.scripted_paths:
            known = ", ".join(sorted(control.scripted_paths))
            return _bad(ValueError(f"unknown path {spec.path!r}; use '*' or one of {known}"))
        fault = control.faults.add(spec)
        return JSONResponse({"fault": fault.to_dict(), "faults": control.faults.active()})

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": control.faults.active()})

    async def clear_faults(request: Request) -> Response:
        removed = control.faults.clear(request.query_params.get("path"))
        return JSONResponse({"cleared": removed})

    async def fail_storage(request: Request) -> Response:
        try:
            spec = await _parse(request, FailStorageRequest)
        except ValidationError as exc:
            return _bad(exc)
        control.storage.fail_next(spec.times)
        return JSONResponse({"failStorage": spec.times})

    async def revoke_tokens(request: Request) -> Response:
        return JSONResponse({"revoked": control.tokens.revoke_all()})

    async def requests(request: Request) -> Response:
        limit = request.query_params.get("limit", "")
        if limit and not limit.isdigit():
            return _bad(ValueError("limit must be a positive integer"))
        items = control.log.items(request.query_params.get("path"), int(limit or 0) or None)
        return Response(json.dumps({"items": items}), media_type="application/json")

    async def clear_requests(request: Request) -> Response:
        return JSONResponse({"cleared": control.log.clear()})

    async def tokens(request: Request) -> Response:
        issuer = control.tokens
        return JSONResponse(
            {"issued": issuer.issued, "active": issuer.active(), "revoked": issuer.revoked}
        )

    async def reset(request: Request) -> Response:
        control.faults.clear()
        control.storage.fail_next(0)
        control.log.clear()
        return JSONResponse({"reset": True})

    return [
        Route(f"{PREFIX}/faults", add_fault, methods=["POST"]),
        Route(f"{PREFIX}/faults", list_faults, methods=["GET"]),
        Route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{PREFIX}/fail-storage", fail_storage, methods=["POST"]),
        Route(f"{PREFIX}/revoke-tokens", revoke_tokens, methods=["POST"]),
        Route(f"{PREFIX}/requests", requests, methods=["GET"]),
        Route(f"{PREFIX}/requests", clear_requests, methods=["DELETE"]),
        Route(f"{PREFIX}/tokens", tokens, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    ]
