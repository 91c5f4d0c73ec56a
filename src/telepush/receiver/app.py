"""The receiver kit's ASGI application: token endpoint, push endpoints, read API, control API.

- ``POST <token_path>``: OAuth2 client-credentials token endpoint (oauth2 mode only);
- ``POST <push path>``: one per service (default ``/push/<service>``);
- ``GET /trips``, ``/trips/{itinId}``, ``/crashes/{crashId}``, ``/deletions``,
  ``/diagnoses?userId=``, ``/crash-reports``, ``/receipts?service=&deliveryId=``,
  ``/stats``: the read API, with the same credentials as pushes;
- ``GET /healthz``: no authentication;
- ``/_control/...``: only with ``enable_control=True`` (no authentication: tests only).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from telepush.receiver.auth import Authenticator, TokenIssuer, Verdict
from telepush.receiver.control import ControlMiddleware, ControlState, control_routes
from telepush.receiver.faults import RequestLog
from telepush.receiver.push import BodyTooLarge, push_endpoint, read_body
from telepush.receiver.reads import read_routes
from telepush.receiver.replies import NO_STORE, REALM, json_response, note
from telepush.receiver.settings import ReceiverSettings
from telepush.receiver.storage import Storage

_FORM = "application/x-www-form-urlencoded"
_TOKEN_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Receiver:
    """What a running receiver holds (``app.state.receiver``)."""

    settings: ReceiverSettings
    storage: Storage
    tokens: TokenIssuer
    auth: Authenticator
    control: ControlState | None


def _oauth_error(status: int, code: str, description: str) -> Response:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    body = {"error": code, "error_description": description}
    return json_response(body, status, headers)


def _secret_in(form: dict[str, list[str]], secret: str) -> bool:
    """Whether the body carries the client secret (a ``client_secret`` field or its value)."""
    if any(name.lower().replace("_", "") == "clientsecret" for name in form):
        return True
    return bool(secret) and any(secret in values for values in form.values())


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def token_endpoint(receiver: Receiver) -> Route:
    """OAuth2 token endpoint: client credentials grant, client authenticated by HTTP Basic."""
    settings = receiver.settings
    secret = settings.client_secret.get_secret_value() if settings.client_secret else ""

    async def token(request: Request) -> Response:
        try:
            body = await read_body(request, _TOKEN_BODY_LIMIT)
        except BodyTooLarge:
            return _oauth_error(400, "invalid_request", "the request body is too large")
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        secret_in_body = _secret_in(form, secret)
        grant_type = _first(form, "grant_type")
        note(
            request,
            grantType=grant_type,
            formKeys=sorted(form),
            secretInBody=secret_in_body,
            contentType=request.headers.get("content-type"),
        )
        verdict = receiver.auth.check_client(request.headers.get("authorization"))
        if verdict is not Verdict.OK:
            message = "authenticate the client with HTTP Basic (client id and secret)"
            if verdict is Verdict.REJECTED:
                message = "unknown client or wrong secret"
            return _oauth_error(401, "invalid_client", message)
        if secret_in_body:
            message = "the client secret must not be sent in the body; use HTTP Basic only"
            return _oauth_error(400, "invalid_request", message)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != _FORM:
            return _oauth_error(400, "invalid_request", f"the body must be {_FORM}")
        if grant_type is None:
            return _oauth_error(400, "invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            message = "only grant_type=client_credentials is supported"
            return _oauth_error(400, "unsupported_grant_type", message)
        issued = receiver.tokens.issue()
        answer: dict[str, object] = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        }
        scope = _first(form, "scope")
        if scope:
            answer["scope"] = scope
        return json_response(answer, 200, dict(NO_STORE))

    return Route(settings.token_path, token, methods=["POST"])


def create_app(settings: ReceiverSettings) -> Starlette:
    """The receiver as an ASGI app; its storage opens at startup and closes at shutdown."""
    storage = Storage(settings.database)
    tokens = TokenIssuer(settings.token_ttl_s)
    auth = Authenticator(settings, tokens)
    control = None
    if settings.enable_control:
        scripted = frozenset(settings.push_paths.values())
        if settings.auth_mode == "oauth2":
            scripted |= {settings.token_path}
        control = ControlState(
            storage=storage,
            tokens=tokens,
            push_paths=frozenset(settings.push_paths.values()),
            scripted_paths=scripted,
            log=RequestLog(settings.request_log_size),
        )
    receiver = Receiver(settings, storage, tokens, auth, control)

    routes: list[BaseRoute] = []
    if settings.auth_mode == "oauth2":
        routes.append(token_endpoint(receiver))
    for service, path in settings.push_paths.items():
        routes.append(
            Route(path, push_endpoint(service, settings, auth, storage), methods=["POST"])
        )
    routes += read_routes(storage, auth, tokens, settings.reject_status)
    middleware: list[Middleware] = []
    if control is not None:
        routes += control_routes(control)
        middleware.append(Middleware(ControlMiddleware, control=control))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(storage.open)
        try:
            yield
        finally:
            await run_in_threadpool(storage.close)

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.receiver = receiver
    return app
