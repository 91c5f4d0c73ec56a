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
from typing import Any

from telepush.delivery.frames import PING, FrameChannel
from telepush.delivery.lanes import LaneGate
from telepush.delivery.post import HttpPoster, PostConfig
from telepush.domain.delivery import AttemptResult, StoredPayload
from telepush.gc_tuning import tune_for_long_running

log = logging.getLogger("telepush.delivery_process")


async def serve(fd: int, config: PostConfig) -> None:
    loop = asyncio.get_running_loop()
    poster = HttpPoster(config)
    await poster.start()
    lanes = LaneGate()
    gone = loop.create_future()
    posts: dict[int, asyncio.Task[Any]] = {}

    async def post(
        url: str,
        payload: bytes | StoredPayload,
        headers: dict[str, str],
        accepted_status: str,
        lane: tuple[str, str],
        limit: int,
    ) -> AttemptResult:
        await lanes.acquire(lane, limit)
        try:
            return await poster.post(url, payload, headers, accepted_status)
        finally:
            lanes.release(lane, limit)

    def answer(number: int, task: asyncio.Task[Any]) -> None:
        posts.pop(number, None)
        if task.cancelled():  # the parent gave up on it: no answer wanted
            return
        exc = task.exception()
        result = poster.failure(exc) if exc is not None else task.result()
        if channel.open:
            channel.send((number, result))

    def received(message: tuple[Any, ...]) -> None:
        if len(message) == 1:  # (number,): cancel that post; (PING,): say we are here
            if message[0] == PING:
                channel.send((PING, None))
                return
            task = posts.get(message[0])
            if task is not None:
                task.cancel()
            return
        number, *args = message
        task = loop.create_task(post(*args))
        posts[number] = task
        task.add_done_callback(functools.partial(answer, number))

    def lost(_exc: BaseException | None) -> None:
        if not gone.done():
            gone.set_result(None)

    channel = FrameChannel(received, lost)
    sock = socket.socket(fileno=fd)
    await loop.create_unix_connection(lambda: channel, sock=sock)
    await gone
    # The parent has closed its end: nobody reads the answers any more.
    for task in list(posts.values()):
        task.cancel()
    await asyncio.gather(*posts.values(), return_exceptions=True)
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
