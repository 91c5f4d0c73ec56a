"""Reading request bodies with a size cap, before anything is parsed."""

from __future__ import annotations

from fastapi import Request

from telepush.errors import PayloadTooLarge


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"body of {size}+ bytes is over the limit of {max_bytes} bytes (TELEPUSH_MAX_BODY_BYTES)",
        field="body",
    )
