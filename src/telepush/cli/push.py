"""``telepush push``: stream a file of documents into the queue, in chunks, with progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

from telepush.cli.common import console, err_console, fail
from telepush.operations import Operations


@dataclass
class Summary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def _chunks(stream: BinaryIO, size: int) -> Iterator[tuple[bytes, int]]:
    """NDJSON lines grouped ``size`` at a time, with the bytes they took."""
    lines: list[bytes] = []
    used = 0
    for line in stream:
        used += len(line)
        if line.strip():
            lines.append(line.strip())
        if len(lines) >= size:
            yield b"\n".join(lines), used
            lines, used = [], 0
    if lines or used:
        yield b"\n".join(lines), used


async def push_file(
    ops: Operations, customer_id: str, service: str, path: Path, chunk: int
) -> Summary:
    stdin = str(path) == "-"
    try:
        stream: BinaryIO = sys.stdin.buffer if stdin else path.open("rb")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    summary = Summary()
    with stream:
        head = b"" if stdin else stream.peek(64)[:64]  # type: ignore[attr-defined]
        whole = stdin or (head.lstrip()[:1] in (b"[", b"{") and not _looks_ndjson(stream))
        total = None if stdin else path.stat().st_size
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[docs]} docs"),
            TransferSpeedColumn(),
            console=err_console,
            transient=False,
        ) as progress:
            task = progress.add_task(f"{customer_id}/{service}", total=total, docs=0)
            if whole:
                body = stream.read()
                await _send(ops, customer_id, service, body, summary, single=_single(body))
                progress.update(task, advance=len(body), docs=summary.accepted)
            else:
                for body, used in _chunks(stream, chunk):
                    if body:
                        await _send(ops, customer_id, service, body, summary, single=False)
                    progress.update(task, advance=used, docs=summary.accepted)
    console.print(
        f"accepted {summary.accepted}, duplicates {summary.duplicates}, rejected {summary.rejected}"
    )
    for line in summary.errors[:10]:
        err_console.print(f"  [red]rejected[/red] {line}", highlight=False)
    if len(summary.errors) > 10:
        err_console.print(f"  … and {len(summary.errors) - 10} more")
    return summary


def _single(body: bytes) -> bool:
    """One JSON object (not an array, not several NDJSON lines)."""
    if not body.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False  # several lines: NDJSON
    return True


def _looks_ndjson(stream: BinaryIO) -> bool:
    """A file whose first line is a complete object, followed by more, is NDJSON."""
    head = stream.peek(1 << 16)  # type: ignore[attr-defined]
    first, sep, rest = head.partition(b"\n")
    return bool(sep) and first.strip().startswith(b"{") and rest.strip().startswith(b"{")


async def _send(
    ops: Operations, customer_id: str, service: str, body: bytes, summary: Summary, *, single: bool
) -> None:
    if single:
        result = await ops.push(customer_id, service, body)
        summary.accepted += 1
        summary.duplicates += int(result.duplicate)
        return
    base = summary.accepted + summary.rejected
    for item in await ops.push_batch(customer_id, service, body):
        if item.error is not None:
            summary.rejected += 1
            summary.errors.append(f"#{base + item.index + 1}: {item.error.message}")
        else:
            summary.accepted += 1
            summary.duplicates += int(item.duplicate)
