"""The framing between telepush and its delivery processes: messages sent in one loop turn
travel as one frame, and frames are read back whole however the stream is cut."""

from __future__ import annotations

import asyncio
import pickle
import socket
from typing import Any

from telepush.delivery.frames import FrameChannel


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def writelines(self, parts: list[bytes]) -> None:
        self.writes.append(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def frame(messages: list[Any]) -> bytes:
    data = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(4, "big") + data


async def test_messages_of_one_loop_turn_go_out_as_one_frame() -> None:
    channel = FrameChannel(lambda m: None, lambda e: None)
    transport = FakeTransport()
    channel.connection_made(transport)  # type: ignore[arg-type]
    channel.send(("a", 1))
    channel.send(("b", b"x" * 3000))
    assert transport.writes == []  # not before the turn ends
    await asyncio.sleep(0)
    assert transport.writes == [frame([("a", 1), ("b", b"x" * 3000)])]


async def test_frames_are_read_whole_across_any_cut() -> None:
    stream = frame([1, 2]) + frame([{"big": b"y" * 70000}]) + frame([3])
    for cut in (1, 3, 4, 5, 1000, len(stream)):
        got: list[Any] = []
        channel = FrameChannel(got.append, lambda e: None)
        channel.connection_made(FakeTransport())  # type: ignore[arg-type]
        for start in range(0, len(stream), cut):
            channel.data_received(stream[start : start + cut])
        assert got == [1, 2, {"big": b"y" * 70000}, 3], cut


async def test_a_corrupt_length_closes_the_channel() -> None:
    got: list[Any] = []
    channel = FrameChannel(got.append, lambda e: None)
    transport = FakeTransport()
    channel.connection_made(transport)  # type: ignore[arg-type]
    channel.data_received(b"\xff\xff\xff\xff" + b"junk")
    assert transport.closed and got == []


async def test_a_socket_pair_carries_messages_both_ways_and_reports_the_end() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    got: list[Any] = []
    ended = loop.create_future()
    echo: FrameChannel

    def on_echo(message: Any) -> None:
        echo.send(("echo", message))

    echo = FrameChannel(on_echo, lambda e: None)
    caller = FrameChannel(got.append, lambda e: ended.set_result(e))
    await loop.create_unix_connection(lambda: echo, sock=right)
    await loop.create_unix_connection(lambda: caller, sock=left)
    for n in range(100):
        caller.send(n)
    while len(got) < 100:
        await asyncio.sleep(0.01)
    assert got == [("echo", n) for n in range(100)]
    echo.close()
    assert await asyncio.wait_for(ended, 5) is None
    assert not caller.open
