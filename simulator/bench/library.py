"""The whole scenario library through the pytest plugin: serial vs ``-n WORKERS`` (xdist).

Copies the bundled library into a scratch project that opts in to scenario
collection and runs ``pytest scenarios/`` there twice in fresh processes --
once serially, once spread over xdist workers -- and reports both wall times
(process start, collection and every scenario item, variants included). The
two runs must agree item by item (same node ids, same outcomes, read from their
JUnit files): a difference means the workers share state, and the benchmark
fails rather than report a speed-up. Without pytest-xdist installed it reports
the serial run alone. ``--count N`` takes the first N scenario files only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from possim import bundled
from simulator.bench import BenchmarkFailed, Measurement

PYTEST_INI = "[pytest]\npossim_scenario_dirs = scenarios\n"
DEFAULT_WORKERS = 2
_TIMEOUT = 1800.0


def run(options: argparse.Namespace) -> Measurement:
    workers = getattr(options, "workers", 0) or DEFAULT_WORKERS
    with tempfile.TemporaryDirectory(prefix="possim-bench-library-") as scratch:
        folder = Path(scratch)
        project = folder / "project"
        (project / "scenarios").mkdir(parents=True)
        library = sorted(bundled.scenarios().glob("*.yaml"))
        for path in library[: options.count or None]:  # --count N: the first N files
            shutil.copyfile(path, project / "scenarios" / path.name)
        (project / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
        serial_seconds, serial = _pytest(project, folder / "serial", [])
        if importlib.util.find_spec("xdist") is None:
            return _serial_only(serial_seconds, serial)
        parallel_seconds, parallel = _pytest(project, folder / "parallel", ["-n", str(workers)])
    if parallel != serial:
        differing = sorted(
            node for node in set(serial) | set(parallel) if serial.get(node) != parallel.get(node)
        )
        raise BenchmarkFailed(
            f"-n {workers} and the serial run disagree on {len(differing)} item(s): "
            + ", ".join(f"{n} ({serial.get(n)} vs {parallel.get(n)})" for n in differing[:10])
        )
    return Measurement(
        parallel_seconds,
        f"s wall with -n {workers}",
        {
            "items": len(serial),
            "outcomes": _counts(serial),
            "serial": f"{serial_seconds:.2f} s",
            f"-n {workers}": f"{parallel_seconds:.2f} s",
            "speed-up": f"{serial_seconds / parallel_seconds:.2f}x",
            "cores": os.cpu_count() or 1,
        },
    )


def _serial_only(seconds: float, outcomes: dict[str, str]) -> Measurement:
    return Measurement(
        seconds,
        "s wall serially",
        {
            "items": len(outcomes),
            "outcomes": _counts(outcomes),
            "xdist": "not installed (pip install pytest-xdist): serial run only",
        },
    )


def _counts(outcomes: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))


def _pytest(project: Path, folder: Path, extra: list[str]) -> tuple[float, dict[str, str]]:
    """Wall seconds of one ``pytest scenarios/`` run in ``project``, and each item's outcome."""
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
        command, cwd=project, capture_output=True, text=True, timeout=_TIMEOUT, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not junit.is_file():  # 1: some items failed
        raise BenchmarkFailed(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}"
        )
    return seconds, _outcomes(junit)


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        tags = {child.tag for child in case}
        outcome = next((t for t in ("failure", "error", "skipped") if t in tags), "passed")
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes
