"""``gateway serve``: the standalone acquirer host process."""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import iso8583
import pytest

from drivers.clock import RealClock
from simulator import cli
from simulator.cli import gateway
from simulator.gateway.ledger import Ledger, Status
from simulator.wire.iso8583 import Iso8583Spec

TIMEOUT = 30.0
LISTENING = re.compile(
    r"^possim gateway: ISO 8583 \(spec possim_ascii, 2-byte length header\) "
    r"listening on 127\.0\.0\.1:(\d+)$"
)
SPEC = dict(Iso8583Spec.load().fields)


def test_register_adds_gateway_serve_with_defaults() -> None:
    parser = argparse.ArgumentParser(prog="possim")
    gateway.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["gateway", "serve"])
    assert args.host == "127.0.0.1"
    assert args.iso8583_port == 5800
    assert args.qr_port == 5801
    assert args.sim_customers is False
    assert args.spec == "possim_ascii"
    assert args.tpdu_length == 0
    assert args.ledger == "possim-gateway.sqlite"
    assert args.seed is None  # auth codes from the OS unless a seed is asked for
    assert args.handler is gateway.serve_command
    custom = parser.parse_args(
        ["gateway", "serve", "--iso8583-port", "0", "--tpdu-length", "5", "--seed", "9"]
    )
    assert (custom.iso8583_port, custom.tpdu_length, custom.seed) == (0, 5, 9)
    with pytest.raises(SystemExit):
        parser.parse_args(["gateway"])  # a subcommand is required


def test_a_bad_spec_is_reported_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    code = cli.main(["gateway", "serve", "--spec", "no_such_spec", "--ledger", str(ledger)])
    assert code == 2
    assert "no_such_spec" in capsys.readouterr().err


class Process:
    """The gateway in a subprocess, its stdout lines on a queue."""

    def __init__(self, tmp_path: Path) -> None:
        self.ledger = tmp_path / "gateway.sqlite"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator.cli",
                "gateway",
                "serve",
                "--iso8583-port",
                "0",
                "--qr-port",
                "0",
                "--ledger",
                str(self.ledger),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=tmp_path,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self) -> str:
        line = self.lines.get(timeout=TIMEOUT)
        if line is None:
            assert self.proc.stderr is not None
            pytest.fail(f"the gateway exited early: {self.proc.stderr.read()}")
        return line

    def wait_for_line(self, needle: str) -> str:
        while True:
            line = self.next_line()
            if needle in line:
                return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)


def exchange(port: int, fields: dict[str, str]) -> dict[str, str]:
    raw, _ = iso8583.encode(dict(fields), SPEC)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(struct.pack(">H", len(raw)) + bytes(raw))
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = sock.recv(4096)
            assert chunk, "the gateway closed the connection"
            data += chunk
    decoded, _ = iso8583.decode(data[2:], SPEC)
    return dict(decoded)


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_in_a_subprocess(tmp_path: Path, stop_with: signal.Signals) -> None:
    gateway = Process(tmp_path)
    try:
        match = LISTENING.match(gateway.next_line())
        assert match is not None
        port = int(match.group(1))
        assert port != 0
        qr_line = gateway.next_line()
        assert re.match(
            r"^possim gateway: QR API .* listening on http://127\.0\.0\.1:\d+$", qr_line
        )

        reply = exchange(port, {"t": "0800", "7": "0115103000", "11": "000001", "70": "301"})
        assert reply["t"] == "0810"
        assert (reply["39"], reply["11"], reply["70"]) == ("00", "000001", "301")
        assert "0800 STAN 000001" in gateway.wait_for_line(" in 0800")
        assert "RC 00" in gateway.wait_for_line("out 0810")

        # A magstripe purchase (no chip data) lands in the ledger file.
        purchase = {
            "t": "0200",
            "2": "6214830027183655",
            "3": "000000",
            "4": "000000001200",
            "7": "0115103000",
            "11": "000002",
            "22": "021",
            "41": "POS00001",
            "42": "898440154110001",
            "49": "156",
        }
        assert exchange(port, purchase)["39"] == "00"
        assert "621483******3655" in gateway.wait_for_line(" in 0200")
        gateway.wait_for_line("out 0210")

        gateway.proc.send_signal(stop_with)
        assert gateway.proc.wait(timeout=TIMEOUT) == 0
    finally:
        gateway.kill()
    assert gateway.proc.stderr is not None
    assert "Traceback" not in gateway.proc.stderr.read()
    with Ledger(gateway.ledger, RealClock()) as ledger:
        entry = ledger.find("POS00001", "000002", "0115103000")
        assert entry is not None and entry.status is Status.APPROVED
