"""possim's benchmarks, run by ``possim bench NAME``: speed and memory goals, not tests.

:data:`BENCHMARKS` is the table ``possim bench`` lists (nothing imported) and
runs: a name, the module whose ``run(options) -> Measurement`` measures, and a
one-line description. A new benchmark is a module here and a row there. They
ship with possim (they run from a wheel, in any folder); the repository's
``benchmarks/README.md`` says how the figures in the README were taken.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs

from simulator.errors import SimulatorError


@attrs.frozen
class Measurement:
    """A benchmark's result: the figure printed last, and the details above it."""

    figure: float
    unit: str
    details: dict[str, Any] = attrs.field(factory=dict)


class BenchmarkFailed(SimulatorError):
    """The benchmark could not measure what it measures (exit status 1, like a failed check)."""


class Benchmark(NamedTuple):
    """A benchmark: its name, its module and what it measures."""

    name: str
    module: str  # defines run(options: argparse.Namespace) -> Measurement
    description: str


BENCHMARKS = (
    Benchmark(
        "apdu",
        "simulator.bench.apdu",
        "APDU round trip through pcscd + vpcd: possim card vs vicc in us (budget <= 200 us), "
        "EMV read + ARQC in ms (budget <= 10 ms)",
    ),
    Benchmark(
        "escpos-hostile",
        "simulator.bench.escpos_hostile",
        "virtual printer on hostile input: long lines (budget >= 2 MB/s at 1-10 MB), "
        "random bytes (budget >= 0.5 MB/s), repeated graphics to PNG",
    ),
    Benchmark(
        "gateway",
        "simulator.bench.gateway_load",
        "500 terminals on one gateway: p99 authorisation latency (budget < 100 ms)",
    ),
    Benchmark(
        "hostile",
        "simulator.bench.hostile",
        "hostile clients on both gateway ports for 60 s: RSS growth (budget < 64 MiB)",
    ),
    Benchmark(
        "library",
        "simulator.bench.library",
        "wall time of `pytest scenarios/` serially vs with -n 2 (xdist), same outcomes",
    ),
    Benchmark(
        "purchase",
        "simulator.bench.purchase",
        "full in-process card purchases, transactions/s on every core (budget >= 300/s)",
    ),
    Benchmark(
        "render",
        "simulator.bench.render",
        "virtual printer: interpret + render a sale receipt, receipts/s to text "
        "(budget >= 200/s) and to PNG (budget >= 20/s)",
    ),
    Benchmark(
        "startup",
        "simulator.bench.startup",
        "CPU of `possim --help` in a fresh process (budget < 0.3 s)",
    ),
    Benchmark(
        "tui",
        "simulator.bench.tui",
        "possim tui headless: launch to interactive (budget < 1 s), key to repaint (< 50 ms)",
    ),
)


def measure(benchmark: Benchmark, options: argparse.Namespace) -> Measurement:
    """Import the benchmark's module and run it."""
    run: Callable[[argparse.Namespace], Measurement] = importlib.import_module(benchmark.module).run
    return run(options)
