"""Routes of the operator's console: bulk replay tasks, endpoint health, pause and resume,
figures over time. Mounted behind the API token with the other /v1 routes."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from telepush.api.body import read_body
from telepush.api.console_schemas import (
    DepthOut,
    EndpointList,
    EndpointOut,
    HistoryOut,
    MinuteOut,
    RetryWindow,
    TaskList,
    TaskOut,
    TaskStarted,
)
from telepush.console import DepthHistory, Endpoints, Replays
from telepush.errors import InvalidInput

MAX_WINDOW_BODY = 4096


def build_console_router(replays: Replays, endpoints: Endpoints, depth: DepthHistory) -> APIRouter:
    router = APIRouter(prefix="/v1")

    # ---- bulk replay -----------------------------------------------------------------------
    @router.post(
        "/customers/{customerId}/push/{service}/failed/retry",
        tags=["replay"],
        status_code=202,
        response_model=TaskStarted,
        summary="Re-queue every failed delivery of a service (optionally: failed in a window)",
        description="Starts a task and answers at once with its id and the number of "
        "deliveries it will re-queue; follow it with GET /v1/tasks/{taskId}. The optional "
        'body {"from": ISO-8601, "to": ISO-8601} keeps only deliveries that ended failed in '
        "[from, to). 409 while a task for the same customer and service runs. A re-queued "
        "delivery gets one attempt: if it fails again it ends failed, without a new round of "
        "retries.",
    )
    async def retry_failed(customerId: str, service: str, request: Request) -> TaskStarted:
        window = _window(await read_body(request, MAX_WINDOW_BODY))
        task = await replays.start(
            customerId, service, failed_from=window.failed_from, failed_to=window.failed_to
        )
        replays.spawn(task)
        return TaskStarted(task_id=task.task_id, nb_items=task.nb_items)

    @router.get(
        "/tasks/{taskId}", tags=["replay"], response_model=TaskOut, summary="A task's progress"
    )
    async def get_task(taskId: str) -> TaskOut:
        return TaskOut.of(await replays.get(taskId))

    @router.get("/tasks", tags=["replay"], response_model=TaskList, summary="Tasks, newest first")
    async def list_tasks(limit: int = Query(default=50)) -> TaskList:
        return TaskList(items=[TaskOut.of(t) for t in await replays.list(limit)])

    # ---- endpoint health -------------------------------------------------------------------
    @router.get(
        "/endpoints",
        tags=["endpoints"],
        response_model=EndpointList,
        summary="Health of every customer endpoint: breaker, streak, failure rate, latency",
    )
    async def list_endpoints(
        customer: str | None = None, windowMinutes: int = Query(default=60)
    ) -> EndpointList:
        items = await endpoints.health(window_minutes=windowMinutes, customer_id=customer)
        return EndpointList(window_minutes=windowMinutes, items=[EndpointOut.of(e) for e in items])

    @router.get(
        "/customers/{customerId}/push/{service}/health",
        tags=["endpoints"],
        response_model=EndpointOut,
        summary="Health of one endpoint",
    )
    async def endpoint_health(
        customerId: str, service: str, windowMinutes: int = Query(default=60)
    ) -> EndpointOut:
        await endpoints.ops.check_endpoint(customerId, service)
        return EndpointOut.of(await endpoints.one(customerId, service, windowMinutes))

    @router.post(
        "/customers/{customerId}/push/{service}/pause",
        tags=["endpoints"],
        response_model=EndpointOut,
        summary="Pause an endpoint: its deliveries wait, spending no attempts",
    )
    async def pause(customerId: str, service: str) -> EndpointOut:
        return EndpointOut.of(await endpoints.set_paused(customerId, service, True))

    @router.post(
        "/customers/{customerId}/push/{service}/resume",
        tags=["endpoints"],
        response_model=EndpointOut,
        summary="Resume a paused endpoint (by hand or by the breaker); its backlog drains",
    )
    async def resume(customerId: str, service: str) -> EndpointOut:
        return EndpointOut.of(await endpoints.set_paused(customerId, service, False))

    # ---- figures over time -----------------------------------------------------------------
    @router.get(
        "/stats/history",
        tags=["endpoints"],
        response_model=HistoryOut,
        summary="Per-minute attempts and outcomes, and queue depth samples",
    )
    async def history(minutes: int = Query(default=60), customer: str | None = None) -> HistoryOut:
        per_minute = await endpoints.throughput(minutes=minutes, customer_id=customer)
        since = endpoints.ops.clock() - timedelta(minutes=minutes)
        return HistoryOut(
            minutes=[MinuteOut.of(m) for m in per_minute],
            depth=[DepthOut.of(s) for s in depth.since(since)],
        )

    return router


def _window(body: bytes) -> RetryWindow:
    if not body.strip():
        return RetryWindow()
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", code="invalid_json") from None
    try:
        window = RetryWindow.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidInput(
            f'{field}: {err["msg"]} (expected {{"from": ISO-8601, "to": ISO-8601}})',
            field=field,
        ) from None
    for name, value in (("from", window.failed_from), ("to", window.failed_to)):
        if value is not None and value.utcoffset() is None:
            raise InvalidInput(f"{name}: give a time zone (e.g. 2026-11-25T00:00:00Z)", field=name)
    return window
