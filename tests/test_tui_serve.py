"""``possim tui --serve PORT``: the TUI in a browser, through textual-serve.

A real server process: the test polls its HTTP port until it answers, then
opens the browser's websocket and reads the terminal output until the idle
screen arrives (each with a deadline, never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")

WAIT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "tui", "--serve", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as page:
                    assert b"textual" in page.read()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("possim tui --serve never answered") from None
                time.sleep(0.05)  # polling a real external process's port
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_a_browser_session_gets_the_tui(server: str) -> None:
    async def session() -> bytes:
        async with (
            aiohttp.ClientSession() as client,
            client.ws_connect(f"{server}/ws?width=80&height=24") as ws,
        ):
            await ws.send_str(json.dumps(["resize", {"width": 80, "height": 24}]))
            seen = b""
            deadline = time.monotonic() + WAIT
            while b"type an amount" not in seen and time.monotonic() < deadline:
                message = await ws.receive(timeout=WAIT)
                if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    break
                data = message.data
                seen += data if isinstance(data, bytes) else data.encode()
            return seen

    seen = asyncio.run(session())
    assert b"type an amount" in seen
