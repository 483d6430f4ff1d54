"""Resource bounds for tests of what possim reads: time and memory per input.

* :func:`bounded` runs a block in this process under a generous wall-clock
  deadline (SIGALRM: a stall fails instead of hanging the suite) and measures
  the Python memory it allocates (tracemalloc peak), which the test then
  bounds. The deadline is a watchdog, not a speed assertion: it is minutes
  where the work takes milliseconds.
* :func:`run_possim` runs the ``possim`` command line in a child process with
  an address-space limit (RLIMIT_AS) and a timeout, so an input that would take
  gigabytes fails the test instead of the machine.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import attrs

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 120.0  # seconds; generous on a loaded machine (2 cores, many test runs)


class Stalled(AssertionError):
    """A bounded block ran past its deadline."""


@attrs.define
class Usage:
    """What a :func:`bounded` block used."""

    peak_bytes: int = 0

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1e6


@contextlib.contextmanager
def bounded(deadline: float = DEADLINE) -> Iterator[Usage]:
    """Run the block with a watchdog; the yielded Usage holds its tracemalloc peak."""

    def stalled(signum: int, frame: FrameType | None) -> None:
        raise Stalled(f"still running after {deadline:g} s: a stall")

    usage = Usage()
    previous = signal.signal(signal.SIGALRM, stalled)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    try:
        yield usage
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        usage.peak_bytes = max(0, tracemalloc.get_traced_memory()[1] - start)
        if not was_tracing:
            tracemalloc.stop()


MEMORY_LIMIT = 1024 * 1024 * 1024  # address space for a child possim: 1 GiB


def run_possim(
    *args: str, memory: int = MEMORY_LIMIT, timeout: float = DEADLINE, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """``possim ARGS`` in a child limited to ``memory`` bytes of address space."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    code = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        cwd=cwd,
        check=False,
    )
