"""``possim bench``: list and run the benchmarks in the ``benchmarks`` package."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType
from typing import Any

import attrs

import benchmarks


@attrs.frozen
class Measurement:
    figure: float
    unit: str
    details: dict[str, Any] = attrs.field(factory=dict)


def available() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
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
    benches = available()
    if args.name is None:
        for name, module in sorted(benches.items()):
            print(f"{name:<16} {module.DESCRIPTION}")
        return 0
    chosen = benches.get(args.name)
    if chosen is None:
        print(f"no benchmark {args.name!r}; known: {', '.join(sorted(benches))}")
        return 2
    measurement: Measurement = chosen.run(args)
    for key, value in measurement.details.items():
        print(f"{key}: {value}")
    print(f"{args.name}: {measurement.figure:.1f} {measurement.unit}")
    return 0
