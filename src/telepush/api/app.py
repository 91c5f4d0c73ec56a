"""The FastAPI application: routes behind the API token, one error mapping, health, metrics."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from telepush import __version__
from telepush.api import errors
from telepush.api.console_routes import build_console_router
from telepush.api.dashboard import build_dashboard_router
from telepush.api.routes import build_push_router, build_router
from telepush.api.security import TokenAuth
from telepush.console import DepthHistory, Endpoints, Replays
from telepush.metrics import refresh_from_store
from telepush.operations import Operations


def create_app(
    ops: Operations,
    *,
    api_token: str,
    registry: CollectorRegistry = REGISTRY,
    replays: Replays | None = None,
    depth: DepthHistory | None = None,
) -> FastAPI:
    """The API on ``ops``. ``replays`` and ``depth`` are the runtime's, whose background
    tasks advance replays and sample the queue; by default the app makes its own."""
    app = FastAPI(
        title="telepush",
        version=__version__,
        description="Push telematics data to customers' HTTPS endpoints, securely and never "
        "lost. Every route but /healthz needs 'Authorization: Bearer <API token>'.",
    )
    errors.install(app)
    auth = TokenAuth(api_token)
    app.include_router(build_push_router(ops, auth))  # checks the token itself (routes.py)
    app.include_router(build_router(ops), dependencies=[Depends(auth)])
    app.include_router(
        build_console_router(replays or Replays(ops), Endpoints(ops), depth or DepthHistory(ops)),
        dependencies=[Depends(auth)],
    )
    app.include_router(build_dashboard_router())  # the page holds no data: no token

    @app.get("/healthz", tags=["ops"], summary="Liveness (no token needed)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(auth)], summary="Prometheus")
    async def metrics() -> PlainTextResponse:
        await refresh_from_store(ops.queue_gauges)  # the gauges, read at scrape time
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
