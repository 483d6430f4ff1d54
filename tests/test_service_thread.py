"""The life cycle the ISO 8583 host, the QR API and the channel simulators share
(simulator/service_thread.py; the gateway's raises GatewayError)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from simulator.errors import GatewayError
from simulator.gateway.service_thread import ServiceThread


class Echo(ServiceThread):
    what = "the echo service"
    thread_name = "possim-test-echo"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: bool) -> None:
        super().__init__(host, port, allow_remote=options.get("allow_remote", False))
        self.server: asyncio.Server | None = None
        self.shutdowns = 0

    async def _listen(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._echo, self._host, self._port)
        host, port = self.server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def _shutdown(self) -> None:
        self.shutdowns += 1
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()


def test_serves_on_its_own_thread_until_stopped() -> None:
    with Echo() as echo:
        with socket.create_connection(echo.address, timeout=10) as client:
            client.sendall(b"ping\n")
            assert client.makefile("rb").readline() == b"ping\n"
        address = echo.address
    assert echo.shutdowns == 1
    with pytest.raises(GatewayError, match="the echo service is not running"):
        _ = echo.address
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=10).close()
    echo.stop()  # a second stop is harmless


def test_refuses_a_non_loopback_address_unless_told() -> None:
    with pytest.raises(GatewayError, match="the echo service listens on loopback only"):
        Echo("0.0.0.0")
    Echo("0.0.0.0", allow_remote=True)  # on purpose: allowed (not started)


def test_a_port_in_use_is_a_clear_error_and_nothing_keeps_running() -> None:
    with Echo() as first:
        second = Echo(port=first.address[1])
        with pytest.raises(GatewayError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
            second.start()
        assert second.shutdowns == 1
        second.stop()


def test_cannot_start_twice() -> None:
    with Echo() as echo, pytest.raises(GatewayError, match="already started"):
        echo.start()
