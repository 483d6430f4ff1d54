"""``possim fleet``: N simulated terminals against an ISO 8583 host (:mod:`simulator.fleet`).

The options become a :class:`~simulator.fleet.plan.FleetPlan`;
:func:`~simulator.fleet.locust_run.run_fleet_on_locust` runs it -- possim's
Locust users, headless, in a child process -- and its report is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.devices import cards
from simulator.errors import SimulatorError
from simulator.fleet.errors import FleetError
from simulator.fleet.locust_run import run_fleet_on_locust
from simulator.fleet.plan import (
    DEFAULT_AMOUNT_FEN,
    DEFAULT_MERCHANT_ID,
    DEFAULT_TID_PREFIX,
    DEFAULT_TIMEOUT,
    FleetPlan,
)
from simulator.terminal.config import HostEndpoint
from simulator.wire.mac import parse_mac_key


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = subparsers.add_parser(
        "fleet",
        help="run N simulated terminals against an ISO 8583 host and report",
        description="Run N simulated terminals (distinct TIDs, one TCP connection each) "
        "sending magnetic-stripe purchases to an ISO 8583 host; report response codes, "
        "losses, latency and throughput (`possim docs real_hosts`).",
    )
    fleet.add_argument(
        "--host",
        required=True,
        metavar="URL",
        help="iso8583://HOST:PORT[?spec=NAME|PATH&tpdu=HEX&header=2|4&mac=x919]",
    )
    fleet.add_argument("--terminals", type=int, default=10, help="terminals (%(default)s)")
    fleet.add_argument(
        "--transactions", type=int, default=10, help="purchases per terminal (%(default)s)"
    )
    fleet.add_argument(
        "--card", default="unionpay_debit", help="card image for track 2 (%(default)s)"
    )
    fleet.add_argument(
        "--amount-fen", type=int, default=DEFAULT_AMOUNT_FEN, help="amount (%(default)s fen)"
    )
    fleet.add_argument("--merchant-id", default=DEFAULT_MERCHANT_ID, help="DE42 (%(default)s)")
    fleet.add_argument(
        "--tid-prefix", default=DEFAULT_TID_PREFIX, help="terminal ids: prefix + number"
    )
    fleet.add_argument(
        "--think", type=float, default=0.0, help="seconds between a terminal's purchases"
    )
    fleet.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for an answer"
    )
    fleet.add_argument(
        "--mac-key-file",
        type=Path,
        metavar="PATH",
        help="file holding the hex MAC key, for mac=x919 hosts",
    )
    fleet.add_argument("--seed", type=int, default=0, help="seed for the start stagger")
    fleet.set_defaults(handler=fleet_command)


def plan_from_args(args: argparse.Namespace) -> FleetPlan:
    try:
        endpoint = HostEndpoint.parse(args.host)
    except ValueError as exc:
        raise FleetError(f"--host: {exc}") from None
    mac_key = None
    if args.mac_key_file is not None:
        try:
            text = Path(args.mac_key_file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise FleetError(f"cannot read --mac-key-file {args.mac_key_file}: {exc}") from None
        mac_key = parse_mac_key(text, f"the key in {args.mac_key_file}")
    if endpoint.mac and mac_key is None:
        raise FleetError(f"--host asks for mac={endpoint.mac}: pass --mac-key-file")
    if len(args.merchant_id) != 15:
        raise FleetError("--merchant-id must be 15 characters (ISO 8583 DE42)")
    return FleetPlan(
        endpoint=endpoint,
        terminals=args.terminals,
        transactions=args.transactions,
        card=cards.load(args.card),
        amount_fen=args.amount_fen,
        merchant_id=args.merchant_id,
        tid_prefix=args.tid_prefix,
        think=args.think,
        timeout=args.timeout,
        mac_key=mac_key,
        seed=args.seed,
    )


def fleet_command(args: argparse.Namespace) -> int:
    """0: every request answered and none mismatched; 1: losses; 2: bad options."""
    try:
        plan = plan_from_args(args)
        report = run_fleet_on_locust(plan)
    except SimulatorError as exc:
        print(f"possim fleet: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    complete = report.sent == report.planned and not report.lost and not report.mismatched
    return 0 if complete else 1
