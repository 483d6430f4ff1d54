"""What each load-test process saw, line by line, for the check against the ledger.

With ``--possim-record DIR`` every exchange's :attr:`~.terminal.Exchange.record`
(terminal id, STAN, DE7, MTI, response code, RRN; QR order numbers and
results -- never card data) is appended as one JSON line to
``DIR/possim-<host>-<pid>.jsonl``, flushed at once: a Locust master, each of its
workers (on any machine) and a plain process each write their own file, and
:mod:`.ledger_check` reads them all. A line is written only after the request
was answered or given up on, so a process killed mid-request leaves a file that
is short of that request, never wrong about one.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from simulator.loadtest.errors import LoadTestError
from simulator.loadtest.terminal import Exchange

RECORD_GLOB = "possim-*.jsonl"
MAX_LINE = 4096  # a record line is ~200 bytes: a longer one is not ours


class Recorder:
    """Appends records to this process's file in ``folder`` (opened on first use)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.folder / f"possim-{socket.gethostname()}-{os.getpid()}.jsonl"

    def write(self, exchange: Exchange) -> None:
        line = json.dumps({"name": exchange.name, "ok": exchange.ok, **exchange.record})
        with self._lock:
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_records(folder: Path) -> Iterator[dict[str, object]]:
    """Every record in ``folder``'s record files; :class:`LoadTestError` on a bad line."""
    files = sorted(folder.glob(RECORD_GLOB))
    if not files:
        raise LoadTestError(f"{folder}: no {RECORD_GLOB} record files (run with --possim-record)")
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if len(line) > MAX_LINE:
                    raise LoadTestError(f"{path}:{number}: line over {MAX_LINE} characters")
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LoadTestError(f"{path}:{number}: not JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise LoadTestError(f"{path}:{number}: expected a JSON object")
                yield record
