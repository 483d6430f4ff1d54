"""``possim bench``: list and run the benchmarks in :mod:`simulator.bench`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

from simulator.errors import SimulatorError


def available() -> dict[str, ModuleType]:
    from simulator import bench

    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"simulator.bench.{info.name}")
        if hasattr(module, "run") and hasattr(module, "NAME"):
            found[str(module.NAME)] = module
    return found


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
    parser.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from simulator.bench import BenchmarkFailed, Measurement
    from simulator.cli.exit_status import one_line

    benches = available()
    if args.name is None:
        for name, module in sorted(benches.items()):
            print(f"{name:<16} {module.DESCRIPTION}")
        return 0
    chosen = benches.get(args.name)
    if chosen is None:
        raise SimulatorError(f"no benchmark {args.name!r}; known: {', '.join(sorted(benches))}")
    try:
        measurement: Measurement = chosen.run(args)
    except BenchmarkFailed as exc:
        print(f"possim bench {args.name}: failed: {one_line(str(exc))}", file=sys.stderr)
        return 1
    for key, value in measurement.details.items():
        print(f"{key}: {value}")
    print(f"{args.name}: {measurement.figure:.1f} {measurement.unit}")
    return 0
