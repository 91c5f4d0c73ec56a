"""Single pushes that arrive together, queued by one ``Store.enqueue`` call."""

from __future__ import annotations

import asyncio

from telepush.domain.delivery import EnqueueResult, NewDelivery
from telepush.store.base import Store

_Waiting = list[tuple[NewDelivery, "asyncio.Future[EnqueueResult]"]]


class GroupedEnqueue:
    """``enqueue_one`` queues its item together with the other items handed to it in the
    same turn of the event loop: one ``store.enqueue`` (one transaction) for all of them, in
    order, as consecutive calls would be (a repeated idempotency key is a duplicate of the
    first). Each caller returns only once its item is committed.

    When the shared call fails, each item is queued again on its own, in order, so one
    item's error (its customer deleted meanwhile, say) is that caller's alone."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: _Waiting = []
        self._writing: set[asyncio.Task[None]] = set()

    async def enqueue_one(self, item: NewDelivery) -> EnqueueResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EnqueueResult] = loop.create_future()
        self._waiting.append((item, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        group, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._write(group))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, group: _Waiting) -> None:
        try:
            try:
                results = await self._store.enqueue([item for item, _ in group])
            except Exception as exc:
                if len(group) == 1:
                    _settle(group[0][1], error=exc)
                    return
                for item, future in group:
                    await self._write_alone(item, future)
                return
        except BaseException:  # cancelled: so are the callers still waiting
            for _, future in group:
                future.cancel()
            raise
        for (_, future), result in zip(group, results, strict=True):
            _settle(future, result=result)

    async def _write_alone(self, item: NewDelivery, future: asyncio.Future[EnqueueResult]) -> None:
        if future.done():  # its caller is gone: it is not queued
            return
        try:
            [result] = await self._store.enqueue([item])
        except Exception as exc:
            _settle(future, error=exc)
        else:
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[EnqueueResult],
    *,
    result: EnqueueResult | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
