"""``possim trace``: record device traffic, replay it, show it (docs/replay.md).

* ``possim trace record SCENARIO --out DIR [--card-transport pcsc]
  [--printer-transport usb|pty|tcp] [--scanner-transport pty|wedge]`` runs the
  scenario with every card reader, printer and scanner that sits on a real
  transport recorded to ``DIR/<kind>.jsonl``.
* ``possim trace replay SCENARIO [--terminal NAME]`` runs the scenario on a
  terminal configuration whose devices are ``replay://`` URLs (the scenario's
  own, or ``NAME``, e.g. ``replay_card_purchase``); ``possim run`` does the
  same for a scenario that names such a terminal.
* ``possim trace show TRACE`` prints a trace one message a line (redacted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import attrs

from drivers.errors import DriverError
from drivers.registry import registry
from drivers.traffic import replay_scheme
from drivers.traffic.recording import recording_session
from drivers.traffic.trace import Trace, TraceError
from simulator.errors import SimulatorError
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import ScenarioResult, run_scenario

DEFAULT_OUT = Path("possim-runs")


def register(commands: Any) -> None:
    trace = commands.add_parser("trace", help="record device traffic and replay it")
    sub = trace.add_subparsers(title="trace commands", metavar="COMMAND")

    record = sub.add_parser("record", help="run a scenario, recording its devices' traffic")
    record.add_argument("scenario", type=Path)
    record.add_argument("--out", type=Path, required=True, help="folder for the traces")
    record.add_argument(
        "--artifacts", type=Path, default=DEFAULT_OUT / "record", help="the run's artifacts"
    )
    record.add_argument("--card-transport", default="sim", choices=("sim", "pcsc"))
    record.add_argument("--printer-transport", choices=("sim", "usb", "pty", "tcp"))
    record.add_argument("--scanner-transport", choices=("sim", "pty", "wedge"))
    record.set_defaults(handler=record_command)

    replay = sub.add_parser("replay", help="run a scenario on replay:// devices")
    replay.add_argument("scenario", type=Path)
    replay.add_argument(
        "--terminal",
        help="terminal configuration with replay:// devices (default: the scenario's own)",
    )
    replay.add_argument("--out", type=Path, default=DEFAULT_OUT / "replay")
    replay.set_defaults(handler=replay_command)

    show = sub.add_parser("show", help="print a trace, one message a line")
    show.add_argument("trace", type=Path)
    show.set_defaults(handler=show_command)


def record_command(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
        with recording_session(args.out):
            result = run_scenario(
                scenario,
                args.artifacts,
                card_transport=args.card_transport,
                printer_transport=args.printer_transport,
                scanner_transport=args.scanner_transport,
            )
    except (SimulatorError, DriverError, TraceError) as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    for path in sorted(args.out.glob("*.jsonl")):
        print(f"recorded {path} ({len(Trace.load(path).messages)} messages)")
    return _report(result)


def replay_command(args: argparse.Namespace) -> int:
    replay_scheme.register(registry)  # also an entry point; this works before reinstalling
    try:
        scenario = load_scenario(args.scenario)
        if args.terminal is not None:
            scenario = attrs.evolve(scenario, terminal=args.terminal)
        result = run_scenario(scenario, args.out)
    except (SimulatorError, DriverError, TraceError) as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    return _report(result)


def show_command(args: argparse.Namespace) -> int:
    try:
        trace = Trace.load(args.trace)
    except TraceError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    header = trace.header
    print(f"{trace.kind} {header.get('url')} recorded {header.get('recorded_at')}")
    for message in trace:
        print(f"  {message.describe()}")
    return 0


def _report(result: ScenarioResult) -> int:
    if result.passed:
        print(f"PASS {result.scenario.path}; artifacts in {result.artifacts}/")
        return 0
    print(f"FAIL {result.failure_text}")
    return 1
