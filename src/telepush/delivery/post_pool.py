"""Delivery processes: the HTTP exchanges of this process's worker, made by child processes.

One Python process runs its event loop on one core at a time, and a worker on SQLite also
feeds the writer thread from it; HTTP and TLS are most of the loop's work. With
``delivery_processes`` = N, the worker's posts go to N children (``post_process``), each an
``HttpPoster`` on its own event loop and core, over a private socket pair (``frames``). The
queue, leases, retry decisions, metrics and OAuth2 tokens all stay in this process.

The delivery processes keep the per-endpoint limit on requests themselves (``lanes``): an
endpoint's (lane's) posts go round the processes in turn, each process allowed its share of
the limit, so the worker hands over every delivery it has leased at once and a process starts
the next the moment a reply is in.

A child that exits fails the posts it held with a CONNECT error (whether they reached the
endpoint is unknown: at-least-once, as after any dropped connection) and is started again a
second later; meanwhile its share of the posts is made in this process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import sys
from typing import Any

from telepush.delivery.frames import PING, FrameChannel
from telepush.delivery.lanes import LaneGate
from telepush.delivery.post import HttpPoster, PostConfig
from telepush.domain.delivery import AttemptResult, ErrorKind, StoredPayload

log = logging.getLogger("telepush.delivery_processes")

RESTART_AFTER_S = 1.0
# A running child is pinged this often; one that has answered nothing (pings included) for
# UNRESPONSIVE_S is killed, which fails what it held and starts it again.
PING_EVERY_S = 2.0
UNRESPONSIVE_S = 10.0
STOP_WAIT_S = 5.0  # for a child to exit after its socket closes, before it is killed
_SOCKET_BUFFER_BYTES = 1 << 20
_MAX_LANES = 100_000  # turns remembered; forgetting them only restarts the rotation


class _Child:
    """One delivery process and the posts it holds."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: asyncio.subprocess.Process | None = None
        self.channel: FrameChannel | None = None
        self.held: dict[int, asyncio.Future[AttemptResult]] = {}
        self.exited = asyncio.Event()
        self.heard_at = 0.0  # loop time of the last message from the child

    @property
    def up(self) -> bool:
        return self.channel is not None and self.channel.open

    async def start(self, config: PostConfig) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for sock in (ours, theirs):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER_BYTES)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER_BYTES)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "telepush.delivery.post_process",
                str(theirs.fileno()),
                json.dumps(config.as_dict()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.exited.clear()
        channel = FrameChannel(self._answered, self._lost)
        await loop.create_unix_connection(lambda: channel, sock=ours)
        self.channel = channel
        self.heard_at = loop.time()

    def ping(self) -> None:
        if self.channel is not None and self.channel.open:
            self.channel.send((PING,))

    def post(self, message: tuple[Any, ...], number: int) -> asyncio.Future[AttemptResult]:
        assert self.channel is not None
        future: asyncio.Future[AttemptResult] = asyncio.get_running_loop().create_future()
        self.held[number] = future
        self.channel.send(message)
        return future

    def cancel(self, number: int) -> None:
        """The caller gave up on post ``number``: the child drops it (or aborts it)."""
        self.held.pop(number, None)
        if self.channel is not None and self.channel.open:
            self.channel.send((number,))

    def _answered(self, message: tuple[int, AttemptResult]) -> None:
        self.heard_at = asyncio.get_running_loop().time()
        number, result = message
        future = self.held.pop(number, None)
        if future is not None and not future.done():
            future.set_result(result)

    def _lost(self, exc: BaseException | None) -> None:
        self.channel = None
        held, self.held = self.held, {}
        for future in held.values():
            if not future.done():
                future.set_result(
                    AttemptResult(
                        ok=False,
                        error=ErrorKind.CONNECT,
                        detail="the delivery process stopped before the reply: the request "
                        "may or may not have reached the endpoint",
                    )
                )
        self.exited.set()

    async def stop(self) -> int | None:
        """Close the socket (the child finishes and exits); kill it if it does not."""
        if self.channel is not None:
            self.channel.close()
        if self.process is None:
            return None
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_WAIT_S)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


class PostPool:
    """``post`` like an ``HttpPoster``, made by the delivery processes."""

    def __init__(self, config: PostConfig, processes: int, fallback: HttpPoster) -> None:
        """``fallback`` (its owner opens and closes it) posts while a child restarts."""
        self.config = config
        self._children = [_Child(n) for n in range(processes)]
        self._numbers = itertools.count()
        self._fallback = fallback
        self._fallback_lanes = LaneGate()
        self._turns: dict[tuple[str, str], int] = {}  # lane -> the process it went to last
        self._watchers: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def running(self) -> int:
        return sum(child.up for child in self._children)

    async def start(self) -> None:
        if self._watchers:
            return
        for child in self._children:
            await child.start(self.config)
            self._watchers.append(
                asyncio.create_task(self._watch(child), name=f"telepush-delivery-{child.number}")
            )
        log.info("%d delivery processes started", len(self._children))

    async def _watch(self, child: _Child) -> None:
        """Ping ``child`` while it runs, kill it when it stops answering, and start it
        again whenever it exits, until the pool closes."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(child.exited.wait(), PING_EVERY_S)
            except TimeoutError:
                silent_s = loop.time() - child.heard_at
                if child.up and silent_s > UNRESPONSIVE_S and child.process is not None:
                    log.error(
                        "delivery process %d has not answered for %.0f s; killing it",
                        child.number,
                        silent_s,
                    )
                    child.process.kill()
                else:
                    child.ping()
                continue
            if self._closing:
                return
            code = None if child.process is None else await child.process.wait()
            log.warning(
                "delivery process %d exited (code %s); starting it again in %.0f s",
                child.number,
                code,
                RESTART_AFTER_S,
            )
            await asyncio.sleep(RESTART_AFTER_S)
            if self._closing:
                return
            try:
                await child.start(self.config)
            except Exception:
                log.exception("could not start delivery process %d", child.number)
                child.exited.set()  # try again

    async def post(
        self,
        url: str,
        payload: bytes | StoredPayload,
        headers: dict[str, str],
        accepted_status: str,
        *,
        lane: tuple[str, str],
        limit: int = 0,
    ) -> AttemptResult:
        """Post through a delivery process, at most ``limit`` of the lane's posts at a time
        (0: no limit). A lane's posts go round its processes in turn, each keeping its share
        of the limit."""
        count = len(self._children) if limit <= 0 else min(len(self._children), limit)
        turn = self._turns.get(lane, -1) + 1
        if turn >= count:
            turn = 0
        if len(self._turns) >= _MAX_LANES:
            self._turns.clear()
        self._turns[lane] = turn
        child = self._children[turn]
        if limit > 0:
            limit = limit // count + (1 if turn < limit % count else 0)
        if not child.up:  # restarting: post from this process meanwhile, within its share
            async with self._fallback_lanes.slot((lane, turn), limit):
                return await self._fallback.post(url, payload, headers, accepted_status)
        number = next(self._numbers)
        future = child.post((number, url, payload, headers, accepted_status, lane, limit), number)
        try:
            return await future
        except asyncio.CancelledError:
            child.cancel(number)
            raise

    async def close(self) -> None:
        self._closing = True
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        codes = await asyncio.gather(*(child.stop() for child in self._children))
        if any(code not in (0, None) for code in codes):
            log.warning("delivery processes exited with codes %s", codes)
