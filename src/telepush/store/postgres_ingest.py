"""Ingest for PostgreSQL: enqueue statements, and group commit of concurrent enqueue calls.

One asyncio task owns ingest. It takes the first waiting call, then every call that arrives
while it gathers (until the event loop is idle, at most ``linger_s``, at most ``max_items``
documents) and writes them all in ONE transaction: a few pipelined ``executemany``
statements, whatever the number of rows. While that transaction commits, the next calls
queue up and form the next group. Each caller's future is resolved only after ``COMMIT``:
N concurrent single pushes cost one commit, not N.

If a group is refused for its data (a reused delivery id, a customer deleted meanwhile), each
of its calls is written again in a transaction of its own, so the faulty call fails alone. If
the connection breaks, every call of the group gets ``StoreError``: the commit may or may not
have happened, so nothing is written twice behind the callers' backs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telepush.domain.delivery import EnqueueResult, NewDelivery, Status
from telepush.errors import NotFound, StoreError
from telepush.store.postgres_conn import Conn, aware, data_error

TRIP = "trip"
DELETED_TRIP = "deleted-trip"

_INSERT = """
INSERT INTO deliveries (delivery_id, customer_id, service, key, idempotency_key,
                        status, due_at, attempt_count, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, 'pending', %s, 0, %s, %s)
ON CONFLICT (customer_id, service, idempotency_key) WHERE idempotency_key IS NOT NULL
DO NOTHING
RETURNING seq
"""

_EARLIER = """
SELECT delivery_id, status FROM deliveries
WHERE customer_id = %s AND service = %s AND idempotency_key = %s
"""

_INSERT_PAYLOAD = "INSERT INTO payloads (seq, body) VALUES (%s, %b)"

# The customers the documents are for, locked against deletion until the commit: a push
# checked against a customer another process deletes meanwhile is refused, not stored.
_CUSTOMERS = "SELECT customer_id FROM customers WHERE customer_id = ANY(%s) FOR KEY SHARE"

# Trips queued before the deletion (lower seq): a trip queued after it is a new push. Their
# payloads are erased in the same statement.
_SUPERSEDE_TRIPS = f"""
WITH superseded AS (
  UPDATE deliveries
  SET status = 'superseded', due_at = NULL, lease_owner = NULL, updated_at = %s
  WHERE customer_id = %s AND service = '{TRIP}' AND key = %s
    AND status IN ('pending', 'failed') AND seq < %s
  RETURNING seq
)
DELETE FROM payloads AS p USING superseded AS s WHERE p.seq = s.seq
"""


async def enqueue(conn: Conn, items: Sequence[NewDelivery]) -> list[EnqueueResult]:
    """Insert ``items`` in order, as one call after another would. Call inside a transaction."""
    for item in items:
        aware(item.created_at)
    wanted = sorted({i.customer_id for i in items})
    cur = await conn.execute(_CUSTOMERS, (wanted,))
    missing = set(wanted) - {row[0] for row in await cur.fetchall()}
    if missing:
        raise NotFound(f"no customer '{min(missing)}'", field="customerId")
    async with conn.cursor() as cur:
        await cur.executemany(
            _INSERT,
            [
                (
                    i.delivery_id,
                    i.customer_id,
                    i.service,
                    i.key,
                    i.idempotency_key,
                    i.created_at,
                    i.created_at,
                    i.created_at,
                )
                for i in items
            ],
            returning=True,
        )
        seqs: list[int | None] = []
        while True:
            row = await cur.fetchone()
            seqs.append(None if row is None else row[0])
            if not cur.nextset():
                break
        payloads = [(seq, i.payload) for i, seq in zip(items, seqs, strict=True) if seq is not None]
        if payloads:
            await cur.executemany(_INSERT_PAYLOAD, payloads)
        deletions = [
            (i.created_at, i.customer_id, i.key, seq)
            for i, seq in zip(items, seqs, strict=True)
            if seq is not None and i.service == DELETED_TRIP and i.key is not None
        ]
        if deletions:
            await cur.executemany(_SUPERSEDE_TRIPS, deletions)
        duplicates = [i for i, seq in zip(items, seqs, strict=True) if seq is None]
        earlier: list[tuple[str, str]] = []
        if duplicates:
            await cur.executemany(
                _EARLIER,
                [(i.customer_id, i.service, i.idempotency_key) for i in duplicates],
                returning=True,
            )
            while True:
                found = await cur.fetchone()
                if found is None:
                    raise StoreError("an idempotency key clashed but its delivery is gone")
                earlier.append((found[0], found[1]))
                if not cur.nextset():
                    break
    found_iter = iter(earlier)
    results: list[EnqueueResult] = []
    for item, seq in zip(items, seqs, strict=True):
        if seq is None:
            delivery_id, status = next(found_iter)
            results.append(EnqueueResult(delivery_id, Status(status), duplicate=True))
        else:
            results.append(EnqueueResult(item.delivery_id, Status.PENDING))
    return results


Write = Callable[[list[NewDelivery]], Awaitable[list[EnqueueResult]]]


@dataclass(frozen=True)
class _Call:
    items: list[NewDelivery]
    future: asyncio.Future[list[EnqueueResult]]


class GroupCommit:
    """Writes concurrent enqueue calls together; ``write`` runs one transaction."""

    def __init__(self, write: Write, *, max_items: int = 1000, linger_s: float = 0.0005) -> None:
        self._write = write
        self._max_items = max_items
        self._linger_s = linger_s
        self._queue: asyncio.Queue[_Call | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commit_count = 0  # transactions committed for ingest

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telepush-pg-ingest")

    async def stop(self) -> None:
        """Write every call already submitted, then end the task."""
        task, self._task = self._task, None
        if task is not None:
            self._queue.put_nowait(None)
            await task

    async def submit(self, items: list[NewDelivery]) -> list[EnqueueResult]:
        """Queue ``items``; return their results once their group has committed."""
        if self._task is None:
            raise StoreError("the store is not open")
        future: asyncio.Future[list[EnqueueResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Call(items, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            group, stopping = await self._gather(first)
            await self._commit(group)

    async def _gather(self, first: _Call) -> tuple[list[_Call], bool]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger_s
        group, size = [first], len(first.items)
        while size < self._max_items:
            if self._queue.empty():
                if loop.time() >= deadline:
                    break
                await asyncio.sleep(0)  # let callers that are ready submit too
                if self._queue.empty():
                    break  # idle: nobody else is coming now
                continue
            call = self._queue.get_nowait()
            if call is None:
                return group, True
            group.append(call)
            size += len(call.items)
        return group, False

    async def _commit(self, group: list[_Call]) -> None:
        items = [item for call in group for item in call.items]
        try:
            results = await self._write(items)
        except (StoreError, NotFound) as exc:
            if len(group) > 1 and (isinstance(exc, NotFound) or data_error(exc)):
                for call in group:
                    await self._commit([call])
                return
            for call in group:
                _settle(call.future, error=exc)
            return
        except Exception as exc:  # a bug or a bad argument: every caller hears of it
            for call in group:
                _settle(call.future, error=exc)
            return
        self.commit_count += 1
        start = 0
        for call in group:
            _settle(call.future, results[start : start + len(call.items)])
            start += len(call.items)


def _settle(
    future: asyncio.Future[list[EnqueueResult]],
    value: list[EnqueueResult] | None = None,
    *,
    error: BaseException | None = None,
) -> None:
    if future.done():  # the caller was cancelled; its rows are written all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value or [])
