"""Splitting a batch body into documents, keeping each document's exact bytes.

A JSON array is walked with ``raw_decode`` so every element is delivered byte for byte as
sent (no re-encoding); NDJSON is one document per non-blank line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from telepush.errors import InvalidPayload

_WS = " \t\r\n"
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Item:
    index: int
    raw: bytes | None  # None when the item could not be cut out
    error: str | None = None


def split_batch(body: bytes) -> list[Item]:
    """Items of a JSON array or NDJSON body. Raises ``InvalidPayload`` if the whole is unusable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayload(
            f"batch body is not UTF-8 (byte {exc.start})", code="invalid_json"
        ) from None
    stripped = text.lstrip(_WS)
    if not stripped:
        raise InvalidPayload(
            "batch body is empty; send a JSON array or NDJSON", code="invalid_json"
        )
    if stripped.startswith("["):
        return _split_array(text)
    return _split_ndjson(text)


def _split_ndjson(text: str) -> list[Item]:
    items: list[Item] = []
    for line in text.splitlines():
        if line.strip(_WS):
            items.append(Item(len(items), line.strip(_WS).encode("utf-8")))
    return items


def _split_array(text: str) -> list[Item]:
    pos = text.index("[") + 1
    items: list[Item] = []
    while True:
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == "]" and not items:
            pos += 1
            break
        try:
            _, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InvalidPayload(
                f"batch array is not valid JSON at item {len(items)}: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno})",
                code="invalid_json",
            ) from None
        items.append(Item(len(items), text[pos:end].encode("utf-8")))
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "]":
            pos += 1
            break
        raise InvalidPayload(
            f"batch array: expected ',' or ']' after item {len(items) - 1}", code="invalid_json"
        )
    if _skip_ws(text, pos) != len(text):
        raise InvalidPayload("batch array: unexpected data after ']'", code="invalid_json")
    return items


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos
