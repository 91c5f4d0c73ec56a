"""Small helpers shared by the receiver's routes: error bodies and authorization failures."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from telepush.receiver.auth import Authenticator, Verdict

REALM = "telepush-receiver"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(raw, status_code=status, headers=headers, media_type="application/json")


def error(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """``{"error": {"code", "message", "field"?}}`` - the error shape of telepush's own API."""
    detail: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return json_response({"error": detail}, status, headers)


def authorize(request: Request, auth: Authenticator, reject_status: int) -> Response | None:
    """``None`` when the request carries valid credentials, else the answer to give."""
    verdict = auth.check_request(request.headers.get("authorization"))
    if verdict is Verdict.OK:
        return None
    if auth.mode == "basic":
        challenge = f'Basic realm="{REALM}", charset="UTF-8"'
        message = "valid HTTP Basic credentials are required"
        return error(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})
    if verdict is Verdict.MISSING:
        challenge = f'Bearer realm="{REALM}"'
        message = "a bearer token is required (Authorization: Bearer <token>)"
        return error(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})
    headers = None
    if reject_status == 401:
        headers = {
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", '
            'error_description="the token is unknown, expired or revoked"'
        }
    return error(
        reject_status,
        "invalid_token",
        "the bearer token is unknown, expired or revoked; get a new one",
        headers=headers,
    )


def note(request: Request, **fields: Any) -> None:
    """Add fields to this request's entry in the control API's request log."""
    log: dict[str, Any] | None = getattr(request.state, "log", None)
    if log is None:
        log = {}
        request.state.log = log
    log.update(fields)
