"""``possim tui --serve``'s server: textual-serve's, ending its browser sessions when it stops.

On its own, textual-serve waits on Ctrl-C for each session's TUI process to
quit, which takes ~20 s when only the server got the signal (``kill -INT``),
and a session caught while it was already leaving can stay behind for good
(a Textual web driver waiting on an event loop nobody wakes). So stopping the
server first ends its sessions: SIGTERM, which Textual's web driver turns into
a clean exit (the simulation and its temp folder closed), then SIGKILL for a
session still there after :data:`GRACE` seconds.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from textual_serve.server import Server  # an optional dependency: ImportError without it

GRACE = 3.0  # seconds a session has to close itself


def serve(command: str, port: int) -> None:
    """Serve ``command`` (the TUI's command line) to browsers on loopback ``port``."""

    class StoppingServer(Server):
        def request_exit(self) -> None:
            end_sessions(GRACE)
            super().request_exit()

    # Loopback only: the served TUI drives a terminal and its host; nobody else's business.
    StoppingServer(command, host="127.0.0.1", port=port, title="possim").serve()


def end_sessions(grace: float) -> None:
    """SIGTERM every process under this one; SIGKILL those still running ``grace`` s later."""
    sessions = descendants(os.getpid())
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
    for pid in pids:
        try:
            os.kill(pid, number)
        except OSError:
            continue  # gone meanwhile
