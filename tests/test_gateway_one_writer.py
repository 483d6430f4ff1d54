"""One ledger, one gateway: a second ``possim gateway serve`` on it is refused.

Two gateways on one ledger file each kept their own RRN counter (and their
own PIN try counts): both handed out the same RRN. The second process now
finds the ledger's writer lock taken and exits 2 with one line naming the
holder, before it listens; the first keeps serving. The lock dies with its
holder, kill -9 included. Real processes, real TCP, no sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_gateway_host import exchange, purchase

from drivers.clock import RealClock
from simulator.errors import GatewayError
from simulator.fleet.gateway_process import GatewayProcess
from simulator.gateway.ledger import Ledger
from simulator.storage import DatabaseInUse, WriterLock

START_TIMEOUT = 60.0


def second_gateway(ledger: Path, cwd: Path) -> tuple[int | None, list[str]]:
    """Run another gateway on ``ledger``: (exit status, its lines); None if it serves."""
    proc = subprocess.Popen(
        [
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
            str(ledger),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        cwd=cwd,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for raw in proc.stdout:  # ends at EOF: the process exited
            lines.append(raw.rstrip("\n"))
            if "listening on" in lines[-1]:
                return None, lines  # it serves: a second writer
        return proc.wait(START_TIMEOUT), lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(START_TIMEOUT)
        proc.stdout.close()


def test_a_second_gateway_on_the_same_ledger_is_refused(tmp_path: Path) -> None:
    ledger = tmp_path / "gateway.sqlite"
    first = GatewayProcess(ledger, cwd=tmp_path)
    try:
        port = first.start(START_TIMEOUT)
        status, lines = second_gateway(ledger, tmp_path)
        assert status == 2, f"the second gateway did not refuse: {lines}"
        (line,) = lines
        assert line.startswith(f"possim gateway: ledger {ledger} is already being written")
        assert f"process {first.pid}" in line and "another ledger" in line
        # The first one never noticed.
        reply = exchange(("127.0.0.1", port), purchase(12345, "000001"))
        assert reply["39"] == "00"
        assert first.stop() == 0
    finally:
        first.kill()
    with Ledger(ledger, RealClock()) as readable:  # readers need no lock
        assert len(readable) == 1


def test_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    ledger = tmp_path / "gateway.sqlite"
    gateway = GatewayProcess(ledger, cwd=tmp_path)
    try:
        gateway.start(START_TIMEOUT)
        gateway.kill()  # SIGKILL: no cleanup at all
        port = gateway.start(START_TIMEOUT)  # the same ledger, at once
        assert exchange(("127.0.0.1", port), purchase(12345, "000001"))["39"] == "00"
        assert gateway.stop() == 0
        port = gateway.start(START_TIMEOUT)  # and after a clean stop
        assert exchange(("127.0.0.1", port), purchase(12345, "000002"))["39"] == "00"
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_one_writer_lock_per_database_in_process_too(tmp_path: Path) -> None:
    database = tmp_path / "gateway.sqlite"
    lock = WriterLock(database)
    with pytest.raises(DatabaseInUse) as refused:
        WriterLock(database)
    assert refused.value.holder == os.getpid()
    lock.release()
    assert not Path(lock.path).exists()  # a clean release leaves nothing behind
    WriterLock(database).release()


def test_a_second_writing_ledger_is_refused_and_readers_are_not(tmp_path: Path) -> None:
    path = tmp_path / "gateway.sqlite"
    with Ledger(path, RealClock(), writer=True):
        with pytest.raises(GatewayError, match="already being written by process"):
            Ledger(path, RealClock(), writer=True)
        with Ledger(path, RealClock()) as reader:
            assert len(reader) == 0
    with Ledger(path, RealClock(), writer=True):  # closed: free again
        pass
