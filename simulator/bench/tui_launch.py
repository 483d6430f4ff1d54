"""``possim tui`` from the shell to its first screen, as a person waits for it.

A real process on a real pty (120x40, ``TERM=xterm-256color``): the clock
starts before the process is spawned; it reads when the terminal receives the
first screen ("Starting": imports and Textual's first frame) and when it
receives the idle screen's title (the simulation built behind it, the terminal
ready for a sale). Then ``q`` quits it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from simulator.bench import BenchmarkFailed

FIRST_SCREEN = b"Starting"  # the starting screen's title, 开机中 Starting (app.STARTING_TITLE)
READY_SCREEN = b"Welcome"  # the idle screen's title, 欢迎使用 Welcome
SIZE = (120, 40)
DEADLINE = 60.0  # real seconds a launch may take before the benchmark gives up


def launch_seconds(workdir: Path) -> tuple[float, float]:
    """Seconds from spawning ``possim tui`` to its first screen and to its idle screen."""
    master, slave = pty.openpty()
    columns, rows = SIZE
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "possim", "tui", "--workdir", str(workdir)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    shown: float | None = None
    try:
        while READY_SCREEN not in seen:
            if time.perf_counter() - started > DEADLINE or process.poll() is not None:
                raise BenchmarkFailed(f"possim tui showed no idle screen in {DEADLINE:g} s")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen = seen[-4096:] + os.read(master, 65536)
                if shown is None and FIRST_SCREEN in seen:
                    shown = time.perf_counter() - started
        idle = time.perf_counter() - started
        os.write(master, b"q")
        _drain_until_exit(master, process)
        return (idle if shown is None else shown), idle
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def _drain_until_exit(master: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.perf_counter() + DEADLINE
    while process.poll() is None and time.perf_counter() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                os.read(master, 65536)
            except OSError:
                break  # the pty closed: the process is gone
    process.wait(DEADLINE)


def launches(count: int) -> list[tuple[float, float]]:
    """(first screen, idle screen) seconds of ``count`` launches."""
    with tempfile.TemporaryDirectory(prefix="possim-bench-tui-launch-") as scratch:
        return [launch_seconds(Path(scratch) / f"l{i}") for i in range(count)]
