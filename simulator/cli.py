"""The ``possim`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator import bench_cli, card_cli, doctor, printer_cli, render_cli
from simulator.devices.printer_link import PRINTER_TRANSPORTS
from simulator.errors import ScenarioError, SimulatorError
from simulator.gateway import cli as gateway_cli
from simulator.scenario.junit import write_junit
from simulator.scenario.model import discover, load_scenario
from simulator.scenario.runner import ScenarioResult, run_scenario
from simulator.simulation import SCANNER_TRANSPORTS
from simulator.tui import cli as tui_cli

DEFAULT_OUT = Path("possim-runs")
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

    run = commands.add_parser("run", help="run scenarios headless and report")
    run.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    run.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    run.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="artifacts folder (default: %(default)s)"
    )
    run.add_argument("--seed", type=int, help="override every scenario's seed")
    run.add_argument(
        "--card-transport",
        choices=("sim", "pcsc"),
        default="sim",
        help="how the terminal reaches the virtual card: in process (sim, the default) or "
        "through a private pcscd + vpcd, the real PC/SC stack (pcsc; needs root, pcscd, "
        "vsmartcard-vpcd and pyscard)",
    )
    run.add_argument(
        "--printer-transport",
        choices=PRINTER_TRANSPORTS,
        help="how the terminal reaches the virtual printer: in process (sim), the user-space "
        "USB backend (usb), a pty (pty) or a loopback TCP 9100-style listener (tcp); default: "
        "the terminal config's [devices] printer URL (sim://?transport=...)",
    )
    run.add_argument(
        "--scanner-transport",
        choices=SCANNER_TRANSPORTS,
        help="how the terminal reaches the virtual scanner: in process (sim) or a pty read "
        "by the serial:// driver (pty); default: the terminal config's [devices] scanner URL",
    )
    run.add_argument(
        "--speaker",
        metavar="URL",
        help="the speaker instead of the terminal config's, e.g. espeak://cmn-latn-pinyin "
        "(expect_speech still checks what was said)",
    )
    run.add_argument(
        "--wav-dir",
        type=Path,
        metavar="DIR",
        help="write one WAV file per announcement to DIR (espeak-ng renders them)",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="print each scenario's transcript"
    )
    run.set_defaults(handler=run_command)

    demo = commands.add_parser(
        "demo", help="run the full card purchase and show receipt and speech"
    )
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT / "demo")
    demo.set_defaults(handler=demo_command)

    gateway_cli.register(commands)
    bench_cli.register(commands)
    card_cli.register(commands)
    doctor.register(commands)
    render_cli.register(commands)
    printer_cli.register(commands)
    tui_cli.register(commands)
    return parser


def run_command(args: argparse.Namespace) -> int:
    try:
        files = discover(args.paths)
    except ScenarioError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    if not files:
        print("no scenario files (*.yaml) found", file=sys.stderr)
        return 2
    results: list[ScenarioResult] = []
    errors: list[ScenarioError] = []
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            errors.append(exc)
            print(f"ERROR {exc}")
            continue
        try:
            result = run_scenario(
                scenario,
                args.out,
                seed=args.seed,
                card_transport=args.card_transport,
                printer_transport=args.printer_transport,
                scanner_transport=args.scanner_transport,
                speaker=args.speaker,
                wav_dir=args.wav_dir,
            )
        except SimulatorError as exc:  # the world could not be built: say why, go on
            errors.append(ScenarioError(path, f"cannot run: {exc}"))
            print(f"ERROR {path}: cannot run: {exc}")
            continue
        results.append(result)
        _report(result)
        if args.verbose:
            print((result.artifacts / "transcript.txt").read_text(encoding="utf-8"))
    passed = sum(result.passed for result in results)
    failed = len(results) - passed
    total_seconds = sum(result.seconds for result in results)
    print(
        f"\n{passed} passed, {failed} failed, {len(errors)} invalid "
        f"in {total_seconds:.2f} s (artifacts in {args.out}/)"
    )
    if args.junit is not None:
        write_junit(results, errors, args.junit)
        print(f"JUnit report: {args.junit}")
    return 0 if failed == 0 and not errors else 1


def _report(result: ScenarioResult) -> None:
    scenario = result.scenario
    status = "PASS" if result.passed else "FAIL"
    print(
        f"{status}  {scenario.path}  {scenario.name}  ({len(scenario.steps)} steps, "
        f"{result.events} events, {result.seconds:.2f} s)"
    )
    if not result.passed:
        print(_indent(result.failure_text))


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


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
