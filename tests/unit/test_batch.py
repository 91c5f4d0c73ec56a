"""Splitting batch bodies while keeping every document's exact bytes."""

from __future__ import annotations

import pytest

from telepush.batch import split_batch
from telepush.errors import InvalidPayload


def test_array_items_keep_their_bytes() -> None:
    """Array elements come out byte for byte as sent (number formats, spacing, unicode)."""
    body = '[ {"itinId": "a", "v": 1.50, "e": 1E5} ,\n{"itinId":"é"}]'.encode()
    items = split_batch(body)
    assert [i.raw for i in items] == [
        b'{"itinId": "a", "v": 1.50, "e": 1E5}',
        '{"itinId":"é"}'.encode(),
    ]


def test_ndjson_lines() -> None:
    """NDJSON: one document per non-blank line."""
    items = split_batch(b'{"a":1}\n\n{"a":2}\r\n')
    assert [i.raw for i in items] == [b'{"a":1}', b'{"a":2}']
    assert [i.index for i in items] == [0, 1]


def test_empty_array() -> None:
    """An empty array is an empty batch."""
    assert split_batch(b"[ ]") == []


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"[{}", b'[{"a":1} {"a":2}]', b"[1,]", b"[1] x", b"\xff\xfe"]
)
def test_malformed_batches_are_refused(body: bytes) -> None:
    """A batch that cannot be split is refused as invalid JSON."""
    with pytest.raises(InvalidPayload) as info:
        split_batch(body)
    assert info.value.code == "invalid_json"
