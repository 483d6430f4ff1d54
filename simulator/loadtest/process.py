"""Locust runs as child processes: headless, alone or a master with workers on loopback.

For ``possim bench gateway`` (and anyone scripting a run): :func:`run_locust`
writes possim's locustfile into a folder, starts ``python -m locust`` there --
one headless process, or a master (``--expect-workers N``) and N workers
joining it on loopback -- waits for them within a deadline and returns the
statistics Locust wrote (:func:`read_stats`, its ``--csv`` file). Locust and its
gevent monkey-patching stay in those processes.
"""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from simulator.loadtest.errors import LoadTestError

LOCUSTFILE = Path(__file__).resolve().parent.parent / "starter" / "locustfile.py.txt"
RESULTS = "results"  # --csv prefix: results_stats.csv ...
RECORDS = "records"  # --possim-record folder


@attrs.frozen
class RequestStats:
    """One row of Locust's ``_stats.csv``: a request type and name, or ``Aggregated``."""

    kind: str
    name: str
    requests: int
    failures: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def read_stats(path: Path) -> list[RequestStats]:
    with path.open(encoding="utf-8") as rows:
        return [
            RequestStats(
                row["Type"],
                row["Name"],
                int(row["Request Count"]),
                int(row["Failure Count"]),
                float(row["Requests/s"]),
                _ms(row["50%"]),
                _ms(row["95%"]),
                _ms(row["99%"]),
            )
            for row in csv.DictReader(rows)
        ]


def _ms(text: str) -> float:
    return float(text) if text not in ("", "N/A") else float("nan")


def run_locust(
    folder: Path, options: Sequence[str], *, workers: int = 0, deadline: float = 600.0
) -> list[RequestStats]:
    """Run possim's locustfile headless in ``folder``; Locust's statistics.

    ``options`` are Locust's (``-u``, ``-r``, ``-t``, ``--host``, ``--possim-*``);
    ``--csv`` and ``--possim-record`` are added (``folder/results*``, ``folder/records``).
    :class:`LoadTestError` when a process fails or outlives ``deadline`` seconds.
    """
    locustfile = folder / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.read_text(encoding="utf-8"), encoding="utf-8")
    common = ["-f", str(locustfile), "--possim-record", RECORDS]
    head = [*common, "--headless", "--only-summary", "--csv", RESULTS, *options]
    processes: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        if workers:
            port = _free_port()
            head += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
            head += ["--expect-workers", str(workers)]
        processes.append(("locust", _start(folder, "locust", head)))
        for number in range(1, workers + 1):
            join = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
            processes.append((f"worker{number}", _start(folder, f"worker{number}", join)))
        for name, process in processes:
            try:
                status = process.wait(deadline)
            except subprocess.TimeoutExpired:
                raise LoadTestError(f"{name} still running after {deadline:g} s") from None
            if status != 0:
                log = (folder / f"{name}.log").read_text(encoding="utf-8", errors="replace")
                tail = " | ".join(log.strip().splitlines()[-3:])
                raise LoadTestError(f"{name} exited with status {status}: {tail}")
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return read_stats(folder / f"{RESULTS}_stats.csv")


def _start(folder: Path, name: str, arguments: list[str]) -> subprocess.Popen[str]:
    with (folder / f"{name}.log").open("w", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", *arguments],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _free_port() -> int:
    with socket.socket() as probe:  # a race only with strangers binding loopback ports
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
