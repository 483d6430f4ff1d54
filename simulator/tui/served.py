"""``possim tui --serve``'s server: textual-serve's, ending its browser sessions when it stops.

A browser session ends its ``possim tui`` process when the browser goes away:
textual-serve asks the app to quit and waits for it -- for ever, if the app
does not (:class:`~simulator.tui.base.EndsWithItsServer` makes the app itself
end at the end of its input); here the wait is bounded: after :data:`GRACE`
seconds the session's processes get SIGTERM, then SIGKILL.

On its own, textual-serve waits on Ctrl-C for each session's TUI process to
quit, which takes ~20 s when only the server got the signal (``kill -INT``),
and a session caught while it was already leaving can stay behind for good
(a Textual web driver waiting on an event loop nobody wakes). So stopping the
server first ends its sessions: SIGTERM, which Textual's web driver turns into
a clean exit (the simulation and its temp folder closed), then SIGKILL for a
session still there after :data:`GRACE` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import textual_serve  # an optional dependency: ImportError without it
import textual_serve.server
from textual_serve.app_service import AppService
from textual_serve.server import Server

from simulator.errors import SimulatorError

GRACE = 3.0  # seconds a session has to close itself
HOST = "127.0.0.1"  # loopback only: the served TUI drives a terminal and its host
# textual-serve's page asks Google Fonts for Roboto Mono; its own static folder has it.
_WEB_FONT = re.compile(r'<link[^>]*href="https://fonts\.googleapis\.com/[^"]*"[^>]*/>', re.S)
_LOCAL_FONT = """<style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf");
      }
    </style>"""


class ServeError(SimulatorError):
    """``possim tui --serve`` cannot serve (its port is taken)."""


class BoundedSession(AppService):
    """A browser session whose process is gone at most :data:`GRACE` s after it ends."""

    async def stop(self) -> None:
        process = self._process
        # The shell textual-serve started, and the TUI under it.
        tree = set() if process is None else {process.pid, *descendants(process.pid)}
        # The app did not quit when asked, or its pipe broke: ended below.
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(super().stop(), GRACE)
        if any(map(running, tree)):
            await asyncio.to_thread(end_processes, tree, GRACE)


def serve(command: str, port: int) -> None:
    """Serve ``command`` (the TUI's command line) to browsers on loopback ``port``."""
    check_port(port)
    textual_serve.server.AppService = BoundedSession  # type: ignore[attr-defined]

    class StoppingServer(Server):
        def request_exit(self) -> None:
            end_sessions(GRACE)
            super().request_exit()

    with tempfile.TemporaryDirectory(prefix="possim-serve-") as scratch:
        templates = local_templates(Path(scratch))
        StoppingServer(
            command, host=HOST, port=port, title="possim", templates_path=templates
        ).serve()


def check_port(port: int) -> None:
    """Refuse, in one line, a port something already listens on (before announcing it)."""
    with socket.socket() as probe:
        # As aiohttp binds: SO_REUSEADDR, so a port in TIME_WAIT is not "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ServeError(
                f"--serve {port}: {HOST}:{port} is {why}; choose another port"
            ) from None


def local_templates(folder: Path) -> Path:
    """textual-serve's templates with its web font served from its own static folder."""
    shutil.copytree(Path(textual_serve.__file__).parent / "templates", folder / "templates")
    page = folder / "templates" / "app_index.html"
    page.write_text(_WEB_FONT.sub(_LOCAL_FONT, page.read_text("utf-8")), "utf-8")
    return folder / "templates"


def end_sessions(grace: float) -> None:
    """SIGTERM every process under this one; SIGKILL those still running ``grace`` s later."""
    end_processes(descendants(os.getpid()), grace)


def end_processes(sessions: set[int], grace: float) -> None:
    """SIGTERM ``sessions``; SIGKILL those still running ``grace`` s later."""
    _signal(sessions, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(map(running, sessions)) and time.monotonic() < deadline:
        time.sleep(0.05)  # they are not our children to wait for (the shells' are theirs)
    _signal({pid for pid in sessions if running(pid)}, signal.SIGKILL)


def descendants(pid: int) -> set[int]:
    """Every process under ``pid`` now (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pids: set[int], number: signal.Signals) -> None:
    for pid in filter(running, pids):
        try:
            os.kill(pid, number)
        except OSError:
            continue  # gone meanwhile
