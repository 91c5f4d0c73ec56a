"""Sharing OAuth2 tokens between processes through the store.

Every worker process keeps its own in-memory ``TokenCache``; with a shared store behind it, a
token one process fetched is found by the others instead of each fetching its own. Each
process renews a token at its own random moment inside ``[margin, 2 × margin]`` before expiry,
so one of them renews first and the others find the new token already stored.

A failure of the store never fails a delivery: the token is then fetched as if there were no
shared store.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Protocol

log = logging.getLogger("telepush.tokens")


class TokenStore(Protocol):
    """The store's token verbs (see ``telepush.store.base.Store``)."""

    async def get_token(
        self, customer_id: str, revision: int, now: datetime
    ) -> tuple[str, datetime] | None: ...

    async def put_token(
        self, customer_id: str, revision: int, token: str, expires_at: datetime
    ) -> None: ...

    async def drop_token(self, customer_id: str, revision: int, token: str) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class SharedTokens:
    """The store as a second level behind the in-memory cache."""

    def __init__(
        self, store: TokenStore, *, margin_s: float, rng: random.Random | None = None
    ) -> None:
        self.store = store
        # This process's own renewal margin: spreads renewals across processes.
        self.margin_s = margin_s * (1.0 + (rng or random.Random()).random())

    async def lookup(
        self, customer_id: str, revision: int, now: datetime
    ) -> tuple[str, float] | None:
        """A stored token and how long this process may use it, if one outlives the margin."""
        try:
            found = await self.store.get_token(
                customer_id, revision, now + timedelta(seconds=self.margin_s)
            )
        except Exception:
            log.warning(
                "could not read the shared token of %s; fetching one", customer_id, exc_info=True
            )
            return None
        if found is None:
            return None
        token, expires_at = found
        return token, (expires_at - now).total_seconds() - self.margin_s

    async def save(self, customer_id: str, revision: int, token: str, expires_at: datetime) -> None:
        try:
            await self.store.put_token(customer_id, revision, token, expires_at)
        except Exception:
            log.warning("could not share the token of %s", customer_id, exc_info=True)

    async def drop(self, customer_id: str, revision: int, token: str) -> None:
        try:
            await self.store.drop_token(customer_id, revision, token)
        except Exception:
            log.warning("could not drop the shared token of %s", customer_id, exc_info=True)
