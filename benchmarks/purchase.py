"""Full card purchases per second, in-process transports.

Each purchase is the whole flow: cashier Intent -> EMV kernel over the
in-process card reader (SELECT, GPO, READ RECORD, VERIFY, GENERATE AC x2) ->
journal (SQLite, synchronous=FULL) -> ISO 8583 0200/0210 over loopback TCP to
the built-in acquirer (ARQC check, ledger) -> callback -> announcement -> two
receipts through python-escpos into the virtual printer. Budget: >= 300/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simulator.bench_cli import Measurement
from simulator.devices.card_image import CardImage
from simulator.simulation import Simulation
from simulator.terminal.config import TerminalConfig

NAME = "purchase"
DESCRIPTION = "full in-process card purchases, transactions/s (budget >= 300/s)"
DEFAULT_COUNT = 500
WARMUP = 20


def run(options: argparse.Namespace) -> Measurement:
    count = options.count or DEFAULT_COUNT
    card = CardImage.load("unionpay_debit")
    config = TerminalConfig.load("default")
    with (
        tempfile.TemporaryDirectory(prefix="possim-bench-") as folder,
        Simulation(config, Path(folder), seed=options.seed) as sim,
    ):
        for index in range(WARMUP):
            sim.pay_by_card(2_000 + index * 100, card)
        started = time.perf_counter()
        approved = 0
        for index in range(count):
            # Whole yuan amounts stay clear of the magic fen values that decline or drop.
            result = sim.pay_by_card(10_000 + index * 100, card)
            approved += result.approved
        elapsed = time.perf_counter() - started
    if approved != count:
        raise RuntimeError(f"only {approved} of {count} purchases were approved")
    return Measurement(
        figure=count / elapsed,
        unit="transactions/s",
        details={"purchases": count, "seconds": f"{elapsed:.3f}"},
    )
