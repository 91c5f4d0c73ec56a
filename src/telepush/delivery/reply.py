"""Reading a customer's reply safely: a capped body, a text preview, ``Retry-After``."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of the reply body.

    A body read to its end lets the connection go back to the pool; a longer one is left
    unread and aiohttp closes that connection when the response is released.
    """
    chunks: list[bytes] = []
    remaining = max_bytes
    while remaining > 0:
        chunk = await response.content.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def preview(body: bytes, max_bytes: int) -> str:
    """The first ``max_bytes`` of ``body`` as text (undecodable bytes replaced)."""
    return body[:max_bytes].decode("utf-8", errors="replace")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``None`` when absent or unparseable; a date in the past gives ``0.0``. Bounds are the
    retry policy's business, not this function's.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
