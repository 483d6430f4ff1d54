"""The whole scenario library through the pytest plugin: serial vs ``-n WORKERS`` (xdist).

Runs ``pytest scenarios/`` twice in fresh processes -- once serially, once
spread over xdist workers -- and reports both wall times (process start,
collection and every scenario item, variants included). The two runs must
agree item by item (same node ids, same outcomes, read from their JUnit
files): a difference means the workers share state, and the benchmark fails
rather than report a speed-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from simulator.bench_cli import Measurement

NAME = "library"
DESCRIPTION = "wall time of `pytest scenarios/` serially vs with -n 2 (xdist), same outcomes"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKERS = 2
_TIMEOUT = 1800.0


def run(options: argparse.Namespace) -> Measurement:
    library = ROOT / "scenarios"
    if not library.is_dir():
        raise RuntimeError(f"no scenario library at {library}: run from a possim checkout")
    workers = getattr(options, "workers", 0) or DEFAULT_WORKERS
    with tempfile.TemporaryDirectory(prefix="possim-bench-library-") as scratch:
        folder = Path(scratch)
        serial_seconds, serial = _pytest(folder / "serial", [])
        parallel_seconds, parallel = _pytest(folder / "parallel", ["-n", str(workers)])
    if parallel != serial:
        differing = sorted(
            node for node in set(serial) | set(parallel) if serial.get(node) != parallel.get(node)
        )
        raise RuntimeError(
            f"-n {workers} and the serial run disagree on {len(differing)} item(s): "
            + ", ".join(f"{n} ({serial.get(n)} vs {parallel.get(n)})" for n in differing[:10])
        )
    counts: dict[str, int] = {}
    for outcome in serial.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return Measurement(
        parallel_seconds,
        f"s wall with -n {workers}",
        {
            "items": len(serial),
            "outcomes": ", ".join(f"{n} {o}" for o, n in sorted(counts.items())),
            "serial": f"{serial_seconds:.2f} s",
            f"-n {workers}": f"{parallel_seconds:.2f} s",
            "speed-up": f"{serial_seconds / parallel_seconds:.2f}x",
            "cores": os.cpu_count() or 1,
        },
    )


def _pytest(folder: Path, extra: list[str]) -> tuple[float, dict[str, str]]:
    """Wall seconds of one ``pytest scenarios/`` run, and each item's outcome."""
    folder.mkdir()
    junit = folder / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "scenarios/",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={folder / 'tmp'}",
        f"--junitxml={junit}",
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=_TIMEOUT, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not junit.is_file():  # 1: some items failed
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds, _outcomes(junit)


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        tags = {child.tag for child in case}
        outcome = next((t for t in ("failure", "error", "skipped") if t in tags), "passed")
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes
