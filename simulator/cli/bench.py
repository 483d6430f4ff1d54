"""``possim bench``: list and run the benchmarks in :data:`simulator.bench.BENCHMARKS`."""

from __future__ import annotations

import argparse
import sys

from simulator.errors import SimulatorError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bench", help="list benchmarks, or run one")
    parser.add_argument("name", nargs="?", help="benchmark to run")
    parser.add_argument(
        "--count", type=int, default=0, help="iterations (0 = the benchmark's default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=0, help="processes, for benchmarks that use them (0 = cores)"
    )
    parser.add_argument(
        "--terminals", type=int, default=0, help="simulated terminals, for the gateway benchmark"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=None,
        help="seconds between one terminal's purchases, for the gateway benchmark",
    )
    parser.add_argument(
        "--locust-users",
        type=int,
        default=None,
        help="Locust users (terminals) for the gateway benchmark's Locust phase (200; 0: skip)",
    )
    parser.add_argument(
        "--locust-seconds", type=int, default=None, help="the Locust phase's length (30 s)"
    )
    parser.add_argument(
        "--locust-workers",
        type=int,
        default=None,
        help="Locust workers beside the master (2; 0: one Locust process)",
    )
    parser.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from simulator.bench import BENCHMARKS, BenchmarkFailed, Measurement, measure
    from simulator.cli.exit_status import one_line

    if args.name is None:
        for benchmark in BENCHMARKS:
            print(f"{benchmark.name:<16} {benchmark.description}")
        return 0
    chosen = next((benchmark for benchmark in BENCHMARKS if benchmark.name == args.name), None)
    if chosen is None:
        known = ", ".join(benchmark.name for benchmark in BENCHMARKS)
        raise SimulatorError(f"no benchmark {args.name!r}; known: {known}")
    try:
        measurement: Measurement = measure(chosen, args)
    except BenchmarkFailed as exc:
        print(f"possim bench {args.name}: failed: {one_line(str(exc))}", file=sys.stderr)
        return 1
    for key, value in measurement.details.items():
        print(f"{key}: {value}")
    print(f"{args.name}: {measurement.figure:.1f} {measurement.unit}")
    return 0
