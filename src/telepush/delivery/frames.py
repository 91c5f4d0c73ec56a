"""Messages between this process and its delivery processes, over a private socket pair.

A frame is a 4-byte big-endian length and a pickled list of messages. Messages sent in one
turn of the event loop go out together as one frame (one pickle, one write), so a claim of
a hundred deliveries costs a few system calls, not a hundred. Pickle is safe here: both
ends are this program, and the socket pair is never reachable by anyone else.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger("telepush.frames")

_HEADER = 4
# The message numbered PING asks the other end to answer at once with (PING, None): it is
# alive. Posts are numbered from 0.
PING = -1
# A frame larger than this is a bug (or a corrupt stream): the channel closes.
MAX_FRAME_BYTES = 1 << 31


class FrameChannel(asyncio.Protocol):
    """One end of the pair: ``send(message)``; ``on_message(message)`` for each received;
    ``on_lost(exc)`` once, when the other end has gone."""

    def __init__(
        self,
        on_message: Callable[[Any], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._buffer = bytearray()
        self._outbox: list[Any] = []
        self._transport: asyncio.Transport | None = None
        self._flush_at_turn_end = False

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but have its methods)
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._on_lost(exc)

    def close(self) -> None:
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def send(self, message: Any) -> None:
        self._outbox.append(message)
        if not self._flush_at_turn_end:
            self._flush_at_turn_end = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_at_turn_end = False
        outbox, self._outbox = self._outbox, []
        if not outbox or self._transport is None or self._transport.is_closing():
            return
        data = pickle.dumps(outbox, protocol=pickle.HIGHEST_PROTOCOL)
        self._transport.writelines([len(data).to_bytes(_HEADER, "big"), data])

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        end = len(buffer)
        messages: list[Any] = []
        while end - start >= _HEADER:
            size = int.from_bytes(buffer[start : start + _HEADER], "big")
            if size > MAX_FRAME_BYTES:
                log.error("a %d-byte frame: the stream is corrupt; closing the channel", size)
                assert self._transport is not None
                self._transport.abort()
                return
            if end - start - _HEADER < size:
                break
            with memoryview(buffer) as view:
                messages.extend(pickle.loads(view[start + _HEADER : start + _HEADER + size]))
            start += _HEADER + size
        if start:
            del buffer[:start]
        for message in messages:
            self._on_message(message)
