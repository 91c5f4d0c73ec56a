"""The read API over what the receiver stored.

Every route but ``/healthz`` needs the same credentials as a push: a bearer token from the
token endpoint (``oauth2`` mode) or the Basic pair (``basic`` mode). Stored documents are
returned as the exact bytes received.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telepush.receiver import queries
from telepush.receiver.auth import Authenticator, TokenIssuer
from telepush.receiver.replies import authorize, error, json_response
from telepush.receiver.storage import Storage
from telepush.services import CATALOGUE

Handler = Callable[[Request], Awaitable[Response]]
MAX_LIMIT = 10_000


def _limit(request: Request, default: int = 1000) -> int:
    raw = request.query_params.get("limit", "")
    if raw.isdigit() and int(raw) > 0:
        return min(int(raw), MAX_LIMIT)
    return default


def read_routes(
    storage: Storage, auth: Authenticator, tokens: TokenIssuer, reject_status: int
) -> list[Route]:
    def guarded(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            refused = authorize(request, auth, reject_status)
            return refused if refused is not None else await handler(request)

        return run

    async def read(query: queries.Query[queries.R]) -> queries.R:
        return await run_in_threadpool(storage.read, query)

    def raw(body: bytes) -> Response:
        return Response(body, media_type="application/json")

    async def trip(request: Request) -> Response:
        itin_id = request.path_params["itinId"]
        body = await read(queries.trip_body(itin_id))
        if body is not None:
            return raw(body)
        if await read(queries.is_deleted(itin_id)):
            return error(404, "deleted", f"trip {itin_id} was deleted", field="itinId")
        return error(404, "not_found", f"no trip {itin_id}", field="itinId")

    async def trips(request: Request) -> Response:
        ids = await read(queries.trip_ids(_limit(request), request.query_params.get("after")))
        return json_response({"items": ids, "count": len(ids)})

    async def crash(request: Request) -> Response:
        crash_id = request.path_params["crashId"]
        body = await read(queries.crash_body(crash_id))
        if body is None:
            return error(404, "not_found", f"no crash {crash_id}", field="crashId")
        return raw(body)

    async def deletions(request: Request) -> Response:
        items = await read(queries.deletions(_limit(request)))
        return json_response({"items": items, "count": len(items)})

    async def diagnoses(request: Request) -> Response:
        user_id = request.query_params.get("userId")
        items = await read(queries.diagnoses(user_id, _limit(request)))
        return json_response({"items": items, "count": len(items)})

    async def crash_reports(request: Request) -> Response:
        items = await read(queries.crash_reports(_limit(request)))
        return json_response({"items": items, "count": len(items)})

    async def receipts(request: Request) -> Response:
        service = request.query_params.get("service")
        if service is not None and service not in CATALOGUE:
            return error(400, "unknown_service", f"unknown service {service!r}", field="service")
        query = queries.receipts(service, request.query_params.get("deliveryId"), _limit(request))
        items = await read(query)
        return json_response({"items": items, "count": len(items)})

    async def stats(request: Request) -> Response:
        counts: dict[str, Any] = await read(queries.counts)
        counts["tokens"] = {
            "issued": tokens.issued,
            "active": tokens.active(),
            "revoked": tokens.revoked,
        }
        return json_response(counts)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/trips", guarded(trips), methods=["GET"]),
        Route("/trips/{itinId}", guarded(trip), methods=["GET"]),
        Route("/crashes/{crashId}", guarded(crash), methods=["GET"]),
        Route("/deletions", guarded(deletions), methods=["GET"]),
        Route("/diagnoses", guarded(diagnoses), methods=["GET"]),
        Route("/crash-reports", guarded(crash_reports), methods=["GET"]),
        Route("/receipts", guarded(receipts), methods=["GET"]),
        Route("/stats", guarded(stats), methods=["GET"]),
    ]
