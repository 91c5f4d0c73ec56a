"""A delivery process: ``python -m telepush.delivery.post_process FD CONFIG_JSON``.

Started by ``post_pool`` with one end of a socket pair as FD. It posts what it is sent with
an ``HttpPoster`` of the given configuration, at most each message's limit at a time per
endpoint (the others wait their turn), and answers each post with its result. It
ignores SIGINT and SIGTERM: its parent decides when it stops, by closing the socket (after
its own graceful drain, when nothing is in flight any more); it then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from telepush.delivery.frames import PING, FrameChannel
from telepush.delivery.lanes import LaneGate
from telepush.delivery.post import HttpPoster, PostConfig, Poster
from telepush.domain.delivery import AttemptResult, StoredPayload
from telepush.gc_tuning import tune_for_long_running

log = logging.getLogger("telepush.delivery_process")


class Posts:
    """The posts of a delivery process: started as their messages arrive, each waiting for
    its lane's turn, answered through ``answer(message)``."""

    def __init__(self, poster: Poster, answer: Callable[[Any], None]) -> None:
        self._poster = poster
        self._answer = answer
        self._lanes = LaneGate()
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._gone = False

    @property
    def held(self) -> int:
        return len(self._tasks)

    def received(self, message: tuple[Any, ...]) -> None:
        if self._gone:
            return
        if len(message) == 1:  # (number,): cancel that post; (PING,): say we are here
            if message[0] == PING:
                self._answer((PING, None))
                return
            task = self._tasks.get(message[0])
            if task is not None:
                task.cancel()
            return
        number, *args = message
        task = asyncio.get_running_loop().create_task(self._post(*args))
        self._tasks[number] = task
        task.add_done_callback(functools.partial(self._done, number))

    def parent_gone(self) -> None:
        """Nobody reads the answers any more: cancel every post at once, so that none still
        waiting for its lane's turn is started by a reply that comes in meanwhile (it would
        reach the endpoint, and be sent again after its lease expires)."""
        self._gone = True
        for task in self._tasks.values():
            task.cancel()

    async def finish(self) -> None:
        """Wait for the cancelled posts to unwind."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _post(
        self,
        url: str,
        payload: bytes | StoredPayload,
        headers: dict[str, str],
        accepted_status: str,
        lane: tuple[str, str],
        limit: int,
    ) -> AttemptResult:
        await self._lanes.acquire(lane, limit)
        try:
            return await self._poster.post(url, payload, headers, accepted_status)
        finally:
            self._lanes.release(lane, limit)

    def _done(self, number: int, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(number, None)
        if task.cancelled():  # the parent gave up on it: no answer wanted
            return
        exc = task.exception()  # (taken even when unanswered: asyncio would log it)
        if self._gone:
            return
        self._answer((number, self._poster.failure(exc) if exc is not None else task.result()))


async def serve(fd: int, config: PostConfig) -> None:
    loop = asyncio.get_running_loop()
    poster = HttpPoster(config)
    await poster.start()
    gone = loop.create_future()

    def answer(message: Any) -> None:
        if channel.open:
            channel.send(message)

    def lost(_exc: BaseException | None) -> None:
        posts.parent_gone()
        if not gone.done():
            gone.set_result(None)

    posts = Posts(poster, answer)
    channel = FrameChannel(posts.received, lost)
    sock = socket.socket(fileno=fd)
    await loop.create_unix_connection(lambda: channel, sock=sock)
    await gone
    await posts.finish()
    await poster.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m telepush.delivery.post_process FD CONFIG_JSON", file=sys.stderr)
        return 2
    fd = int(argv[1])
    # Only its socket is the child's: descriptors the parent left inheritable (its API's
    # listening socket) are closed, so no port stays bound by a child.
    os.closerange(3, fd)
    os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = PostConfig(**json.loads(argv[2]))
    tune_for_long_running()
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    runner(serve(fd, config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
