"""The ``possim`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator import bench_cli, card_cli, doctor, fleet, printer_cli, render_cli, trace_cli
from simulator.gateway import cli as gateway_cli
from simulator.scenario import check_cli, run_cli
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario
from simulator.tui import cli as tui_cli

DEFAULT_OUT = run_cli.DEFAULT_OUT
REPO_SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DEMO_SCENARIO = "card_purchase.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="possim", description="Smart-POS terminal simulator and hardware test harness."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run_cli.register(commands)

    demo = commands.add_parser(
        "demo", help="run the full card purchase and show receipt and speech"
    )
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT / "demo")
    demo.set_defaults(handler=demo_command)

    check_cli.register(commands)
    gateway_cli.register(commands)
    bench_cli.register(commands)
    fleet.register(commands)
    card_cli.register(commands)
    doctor.register(commands)
    render_cli.register(commands)
    printer_cli.register(commands)
    tui_cli.register(commands)
    trace_cli.register(commands)
    return parser


def demo_command(args: argparse.Namespace) -> int:
    path = REPO_SCENARIOS / DEMO_SCENARIO
    if not path.exists():
        print(f"the demo scenario {path} is missing: run from a possim checkout", file=sys.stderr)
        return 2
    scenario = load_scenario(path)
    print(f"possim demo: {scenario.name}")
    print(f"  {scenario.purpose}\n")
    result = run_scenario(scenario, args.out)
    print((result.artifacts / "transcript.txt").read_text(encoding="utf-8"))
    receipts = (result.artifacts / "receipts.txt").read_text(encoding="utf-8").strip("\n")
    speech = (result.artifacts / "speech.txt").read_text(encoding="utf-8").strip()
    print("=" * 20 + " receipts " + "=" * 20)
    print(receipts or "(none)")
    print("=" * 20 + " announcement " + "=" * 16)
    print(speech or "(none)")
    print("=" * 50)
    if not result.passed:
        print(result.failure_text)
        return 1
    print(f"PASS {scenario.path} in {result.seconds:.2f} s; artifacts in {result.artifacts}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
