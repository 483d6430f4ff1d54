"""CPU a ``possim`` process spends before doing anything: ``possim --help`` and friends.

Each command runs ``--count`` times (default 10) as a fresh process; the
figure is the median CPU (user + system, from the kernel's accounting of the
finished child) of ``possim --help``. Budget: under 0.3 s -- the command line
imports a subcommand only when it runs (simulator/cli/). The details give
``python -c pass`` (the interpreter alone) and two subcommands' ``--help``
for comparison.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from simulator.bench import BenchmarkFailed, Measurement

DEFAULT_COUNT = 10
BUDGET_SECONDS = 0.3


def run(options: argparse.Namespace) -> Measurement:
    count = options.count or DEFAULT_COUNT
    possim = _possim()
    help_cpu = _cpu([*possim, "--help"], count)
    return Measurement(
        help_cpu * 1000,
        f"ms CPU for `possim --help` (median of {count}; budget {BUDGET_SECONDS * 1000:.0f})",
        {
            "python -c pass": f"{_cpu([sys.executable, '-c', 'pass'], count) * 1000:.0f} ms",
            "possim run --help": f"{_cpu([*possim, 'run', '--help'], count) * 1000:.0f} ms",
            "possim gateway --help": f"{_cpu([*possim, 'gateway', '--help'], count) * 1000:.0f} ms",
            "command": " ".join(possim),
        },
    )


def _possim() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m possim``."""
    script = Path(sys.executable).with_name("possim")
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "possim"]


def _cpu(command: list[str], count: int) -> float:
    """Median CPU seconds of ``command`` run ``count`` times, each a fresh process."""
    samples: list[float] = []
    for _ in range(count):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, check=False, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise BenchmarkFailed(f"{' '.join(command)} exited {done.returncode}: {done.stderr!r}")
        samples.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(samples)
