"""The management API's bearer token check."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


class TokenAuth:
    """A FastAPI dependency: ``Authorization: Bearer <API token>`` or 401."""

    def __init__(self, api_token: str) -> None:
        self._expected = api_token.encode()

    async def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._expected
        ):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong API token: send 'Authorization: Bearer <token>' "
                "(TELEPUSH_API_TOKEN, or the api-token file in the data directory)",
                headers={"WWW-Authenticate": "Bearer"},
            )
