"""Full card purchases per second, in-process transports, on every core.

Each purchase is the whole flow: cashier Intent -> EMV kernel over the
in-process card reader (SELECT, GPO, READ RECORD, VERIFY, GENERATE AC x2) ->
journal (SQLite, committed before the 0200 leaves) -> ISO 8583 0200/0210 over loopback TCP to
the built-in acquirer (ARQC check, ledger) -> callback -> announcement -> two
receipts through python-escpos into the virtual printer.

One Python process runs one purchase at a time (the GIL), so the benchmark runs
one simulated shop -- terminal, devices and acquirer -- per core, the way CI
runs scenarios in parallel, and reports their combined rate over the wall time
of the slowest. Budget (DESIGN.md section 6): >= 300/s on 2 cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

from simulator.bench import BenchmarkFailed, Measurement
from simulator.devices import cards

DEFAULT_COUNT = 1000
WARMUP = 20
_START_TIMEOUT = 120.0


def run(options: argparse.Namespace) -> Measurement:
    count = options.count or DEFAULT_COUNT
    workers = max(1, min(getattr(options, "workers", 0) or os.cpu_count() or 1, count))
    shares = [count // workers + (1 if index < count % workers else 0) for index in range(workers)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results: multiprocessing.Queue[tuple[int, float | str]] = context.Queue()
    shops = [
        context.Process(target=_shop, args=(index, share, options.seed + index, barrier, results))
        for index, share in enumerate(shares)
    ]
    for shop in shops:
        shop.start()
    elapsed = [0.0] * workers
    try:
        for _ in shops:
            index, outcome = results.get(timeout=_START_TIMEOUT + 600)
            if isinstance(outcome, str):
                raise BenchmarkFailed(f"benchmark process {index} failed: {outcome}")
            elapsed[index] = outcome
    finally:
        for shop in shops:
            shop.join(timeout=30)
            if shop.is_alive():
                shop.kill()
    wall = max(elapsed)
    single = [share / seconds for share, seconds in zip(shares, elapsed, strict=True)]
    return Measurement(
        figure=count / wall,
        unit="transactions/s",
        details={
            "purchases": count,
            "processes": workers,
            "seconds": f"{wall:.3f}",
            "per process": ", ".join(f"{rate:.0f}/s" for rate in single),
        },
    )


def _shop(
    index: int,
    count: int,
    seed: int,
    barrier: Barrier,
    results: multiprocessing.Queue[tuple[int, float | str]],
) -> None:
    """One shop: warm up, wait for the others, then time ``count`` purchases."""
    try:
        results.put((index, _purchases(count, seed, barrier)))
    except BaseException as exc:
        barrier.abort()
        results.put((index, f"{type(exc).__name__}: {exc}"))


def _purchases(count: int, seed: int, barrier: Barrier) -> float:
    from simulator.shop import Shop
    from simulator.terminal.config import TerminalConfig

    card = cards.load("unionpay_debit")
    config = TerminalConfig.load("default")
    with (
        tempfile.TemporaryDirectory(prefix="possim-bench-") as folder,
        Shop(config, Path(folder), seed=seed) as sim,
    ):
        for index in range(WARMUP):
            sim.pay_by_card(2_000 + index * 100, card)
        barrier.wait(_START_TIMEOUT)
        started = time.perf_counter()
        for index in range(count):
            # Whole yuan amounts stay clear of the magic fen values that decline or drop.
            result = sim.pay_by_card(10_000 + index * 100, card)
            if not result.approved:
                raise BenchmarkFailed(f"purchase {index} was not approved: {result.outcome.reason}")
        return time.perf_counter() - started
