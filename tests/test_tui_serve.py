"""``possim tui --serve PORT``: the TUI in a browser, through textual-serve.

A real server process: the test polls its HTTP port until it answers, then
opens the browser's websocket and reads the terminal output until the idle
screen arrives (each with a deadline, never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
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


def test_the_page_loads_its_font_from_the_server(server: str) -> None:
    """No request leaves the machine: the page's Roboto Mono comes from the server."""
    with urllib.request.urlopen(server, timeout=10) as page:
        html = page.read().decode("utf-8")
    assert "googleapis" not in html and "https://" not in html
    (font,) = re.findall(r'url\("([^"]+\.ttf)"\)', html)
    assert font.startswith(server)
    with urllib.request.urlopen(font, timeout=10) as answer:
        assert answer.status == 200 and len(answer.read()) > 10_000


def test_a_busy_port_is_one_line_before_any_announcement(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "simulator.cli", "tui", "--serve", str(port)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=WAIT,
        )
    assert done.returncode == 2
    assert done.stdout == ""  # nothing announced
    assert done.stderr.strip() == (
        f"possim tui: --serve {port}: 127.0.0.1:{port} is in use; choose another port"
    )


def test_bad_options_are_refused_before_serving(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "tui", "--serve", str(free_port()), "--card", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=WAIT,
    )
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "--card 'x' is not a catalogue card" in line


def web_session(tmp_path: Path) -> subprocess.Popen[bytes]:
    """``possim tui`` as textual-serve runs it for a browser: the web driver on pipes."""
    environment = dict(os.environ, TEXTUAL_DRIVER="textual.drivers.web_driver:WebDriver")
    session = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "tui", "--workdir", str(tmp_path / "work")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environment,
        cwd=tmp_path,
    )
    assert session.stdout is not None
    while (line := session.stdout.readline()) != b"__GANGLION__\n":
        assert line, "the session ended before it started"
    # Keep its output flowing, as textual-serve does.
    threading.Thread(target=lambda: session.communicate(), daemon=True).start()
    return session


@pytest.mark.parametrize("ending", ["server gone", "SIGTERM"])
def test_a_session_ends_when_its_server_goes_or_it_is_told(tmp_path: Path, ending: str) -> None:
    """Textual's web driver stopped reading at the end of its input and ran on for ever
    (issue 21: sessions left at 20-30% CPU): the end of the pipe now ends the app."""
    session = web_session(tmp_path)
    try:
        if ending == "SIGTERM":
            session.send_signal(signal.SIGTERM)
        else:
            assert session.stdin is not None
            session.stdin.close()
        assert session.wait(WAIT) == 0
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
