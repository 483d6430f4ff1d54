"""``possim demo``: the library's card purchase, headless, with its receipt and announcement."""

from __future__ import annotations

import argparse
from pathlib import Path

from possim import bundled

DEMO_SCENARIO = "card_purchase.yaml"
DEFAULT_OUT = Path("possim-runs") / "demo"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the full card purchase and show receipt and speech"
    )
    demo.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="artifacts folder (default: %(default)s)"
    )
    demo.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from simulator.scenario.loader import load_scenario
    from simulator.scenario.runner import run_scenario

    scenario = load_scenario(bundled.scenarios() / DEMO_SCENARIO)
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
