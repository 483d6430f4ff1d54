"""``possim gateway serve`` as a child process, for fleets, benchmarks and durability tests.

:class:`GatewayProcess` starts the gateway on OS-chosen loopback ports
(``--iso8583-port 0 --qr-port 0``) with its own ledger, reads the ports from
its listening lines, and can stop it (SIGTERM: a clean shutdown, the exit
status) or kill it (SIGKILL: a crash, nothing flushed) and start it again on
the same ledger. Its output is kept (:attr:`GatewayProcess.output`) and can
be waited on line by line (:meth:`GatewayProcess.wait_for_line`); a gateway
that does not start in time, or exits, is a :class:`FleetError` with its last
lines. :func:`process_usage` reads a process's CPU time and resident memory
from ``/proc`` (Linux), for the benchmarks' budgets.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs

from simulator.fleet.errors import FleetError

_LISTENING = re.compile(r"^possim gateway: ISO 8583 .* listening on (\S+):(\d+)$")
_QR_LISTENING = re.compile(r"^possim gateway: QR API .* listening on (http://\S+)$")


@attrs.frozen
class ProcessUsage:
    cpu_seconds: float  # user + system, the process's whole life so far
    rss_mib: float  # resident memory now


def process_usage(pid: int) -> ProcessUsage:
    """CPU time and resident memory of a running process, from /proc (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return ProcessUsage(float("nan"), float("nan"))
    # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss_kib = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    return ProcessUsage(ticks / os.sysconf("SC_CLK_TCK"), rss_kib / 1024)


class GatewayProcess:
    """``possim gateway serve --quiet`` as a child process on OS-chosen loopback ports.

    For fleets, benchmarks and durability tests: a real separate process that can
    be killed (SIGKILL) and restarted on the same ledger.
    """

    def __init__(
        self, ledger: Path, *options: str, cwd: Path | None = None, open_files: int | None = None
    ) -> None:
        self.ledger = ledger
        self._options = options
        self._cwd = cwd
        self._open_files = open_files  # the child's RLIMIT_NOFILE (ulimit -n); None: ours
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.port = 0
        self.qr_url = ""

    def start(self, timeout: float = 30.0) -> int:
        """Start the process and wait for its listening lines; the ISO 8583 port."""
        command = [
            sys.executable,
            "-m",
            "simulator.cli",
            "gateway",
            "serve",
            "--quiet",
            "--iso8583-port",
            "0",
            "--qr-port",
            "0",
            "--ledger",
            str(self.ledger),
            *self._options,
        ]
        # Each process its own queue: the pump of a killed predecessor may still be
        # draining, and its end-of-output must not read as this process's.
        lines: queue.Queue[str | None] = queue.Queue()
        self._lines = lines
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            cwd=self._cwd,
            preexec_fn=None if self._open_files is None else self._limit_open_files,
        )
        threading.Thread(target=self._pump, args=(self._proc, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.port or not self.qr_url:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise FleetError(f"the gateway did not start within {timeout} s") from None
            if line is None:
                self.kill()
                raise FleetError("the gateway exited: " + " | ".join(self.output[-5:]))
            if (match := _LISTENING.match(line)) is not None:
                self.port = int(match.group(2))
            elif (match := _QR_LISTENING.match(line)) is not None:
                self.qr_url = match.group(1)
        return self.port

    def _limit_open_files(self) -> None:  # in the child, before exec
        assert self._open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self._open_files, self._open_files))

    def wait_for_line(self, needle: str, timeout: float = 30.0) -> str:
        """The next output line holding ``needle``; FleetError if none comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise FleetError(f"the gateway printed no {needle!r} within {timeout} s") from None
            if line is None:
                raise FleetError("the gateway exited: " + " | ".join(self.output[-5:]))
            if needle in line:
                return line

    def _pump(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def usage(self) -> ProcessUsage:
        """The gateway process's CPU time and resident memory (Linux /proc)."""
        return process_usage(self.pid)

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise FleetError("the gateway process is not running")
        return self._proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush -- a crash."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit status."""
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.terminate()
        return self._wait(timeout)

    def _wait(self, timeout: float = 30.0) -> int:
        proc, self._proc = self._proc, None
        self.port = 0
        self.qr_url = ""
        if proc is None:
            return 0
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout)

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
