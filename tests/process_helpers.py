"""Commands run as separate processes the way a user's script starts them, and stopped by SIGINT.

``possim card serve &`` in a non-interactive shell starts possim with SIGINT
*ignored* (POSIX: background jobs without job control), and Python then
installs no KeyboardInterrupt handler of its own. :func:`start_like_a_background_job`
reproduces that start (``trap '' INT; exec ...``), so a test proves that a
Ctrl-C or ``kill -INT`` stops the command however it was started.

Every wait has a deadline and waits on an event (a line of output, the
process's exit), never on a guessed sleep.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

# Generous: the machine may be loaded. The assertion is that the process exits.
DEADLINE = 60.0


class Command:
    """A running command, its output lines collected as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.rstrip("\n"))
            self._queue.put(raw.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, deadline: float = DEADLINE) -> re.Match[str]:
        """The first (new) line matching ``pattern``; fails at exit or after ``deadline`` s."""
        regex = re.compile(pattern)
        end = time.monotonic() + deadline
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {deadline} s:\n{self.output}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"exited {self.process.wait()} before a line matching {pattern!r}:\n"
                    f"{self.output}"
                )
            found = regex.search(line)
            if found is not None:
                return found

    def interrupt(self, deadline: float = DEADLINE) -> float:
        """SIGINT, then wait for the exit; the seconds it took (fails if it never exits)."""
        sent = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(deadline)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"still running {deadline} s after SIGINT:\n{self.output}"
            ) from None
        took = time.monotonic() - sent
        # The pump thread sees EOF once the process (and anything holding its stdout) is gone.
        return took

    def stop(self) -> None:
        """Clean-up after a failed test: make sure the process is gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)


def start_like_a_background_job(
    argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Command:
    """``argv`` started with SIGINT ignored, as ``argv &`` in a non-interactive shell does."""
    process = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
    )
    return Command(process)


def possim(*args: str) -> list[str]:
    """The possim command, through its guarded entry, with this interpreter."""
    return [sys.executable, "-m", "possim", *args]


def descendants(pid: int) -> set[int]:
    """Every process under ``pid`` (from /proc), now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: set[int], deadline: float = DEADLINE) -> set[int]:
    """The pids still alive after waiting up to ``deadline`` s for them to end."""
    end = time.monotonic() + deadline
    while True:
        left = {pid for pid in pids if alive(pid)}
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)  # polling other processes' exit: nothing to wait on directly


# An inner pytest session in this environment loads every plugin installed here:
# schemathesis, hypothesis and textual-snapshot cost ~2.5 s of CPU per process
# (of ~3 s) and no inner session of possim's tests needs them. (textual-snapshot
# would also replace, then delete, the outer session's snapshot folder.)
LEAN_PYTEST = (
    "-p", "no:cacheprovider",
    "-p", "no:schemathesis",
    "-p", "no:hypothesispytest",
    "-p", "no:textual-snapshot",
)  # fmt: skip
