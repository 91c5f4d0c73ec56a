"""The runtime's listening socket."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from telepush.config import load_settings
from telepush.errors import ConfigError
from telepush.runtime import listen_socket, tune_interpreter


async def test_accepted_connections_have_tcp_nodelay() -> None:
    """Connections to the API have Nagle off (else each kept-alive request waits ~40 ms)."""
    sock = listen_socket("127.0.0.1", 0)
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.set_result(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        assert await asyncio.wait_for(nodelay, 5) != 0
        writer.close()


def test_busy_port_is_a_config_error() -> None:
    """Binding a port in use raises ConfigError naming the port setting."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError) as info:
            listen_socket("127.0.0.1", busy.getsockname()[1])
    assert info.value.field == "port"


@pytest.fixture
def restore_switch_interval() -> Iterator[float]:
    before = sys.getswitchinterval()
    yield before
    sys.setswitchinterval(before)


def test_the_switch_interval_is_set_from_the_settings(
    restore_switch_interval: float, tmp_path: Path
) -> None:
    """serve/worker shorten the interpreter's switch interval (0.5 ms by default); 0 leaves
    Python's own."""
    sys.setswitchinterval(0.005)
    tune_interpreter(load_settings(data_dir=tmp_path))
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    tune_interpreter(load_settings(data_dir=tmp_path, switch_interval_ms=2))
    assert sys.getswitchinterval() == pytest.approx(0.002)
    sys.setswitchinterval(0.005)
    tune_interpreter(load_settings(data_dir=tmp_path, switch_interval_ms=0))
    assert sys.getswitchinterval() == pytest.approx(0.005)
