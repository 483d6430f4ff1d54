"""``possim gateway statement | reconcile | revenue``: the back office on a ledger file.

``statement`` writes one channel's statement in its own format; ``reconcile``
reconciles every channel's statement with the ledger and writes the report
(text, JSON), the merchant's merged statement (CSV) and its printed summary;
``revenue`` shows the platform's fees, channel costs and margin per day of a
month, or (``--provider``) a service provider's rebate statements;
``deposits`` reconciles the merchant's expected T+1 deposits with what each
channel settled. Exit status: 0 done (reconcile, deposits: balanced), 1
reconcile or deposits found differences, 2 bad input.
"""

from __future__ import annotations

import argparse
import calendar
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from drivers.errors import DriverError
from drivers.printer import Printer
from drivers.registry import open_device
from simulator.errors import SimulatorError
from simulator.gateway.backoffice.deposits import HEADER, MATCHED, day_deposits
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.backoffice.faults import StatementFault, load_faults, parse_flag
from simulator.gateway.backoffice.fees import DEFAULT_PROFILES, FeeTotals, Profiles, totals
from simulator.gateway.backoffice.formats import FORMATS
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.providers import DEFAULT_PROVIDERS, Providers
from simulator.gateway.backoffice.rebates import month_days, month_statements, parse_month
from simulator.gateway.backoffice.service import run_day
from simulator.gateway.backoffice.statements import StatementFile, open_ledger, parse_day, produce
from simulator.gateway.qr.channels import Merchants
from simulator.wire.money import format_yuan


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], default_ledger: str
) -> None:
    """Add the back-office commands to ``possim gateway``."""
    statement = commands.add_parser(
        "statement",
        help="one channel's daily statement in its own format (possim docs backoffice)",
        description="Write a channel's statement for a merchant's day as that channel "
        "delivers it: WeChat Pay's bill, Alipay's GBK bill, UnionPay QR's or the card "
        "acquirer's fixed-width file.",
    )
    statement.add_argument("--channel", required=True, choices=CHANNELS)
    _common(statement, default_ledger)
    statement.add_argument(
        "--out", type=Path, metavar="PATH", help="write here (default: stdout, raw bytes)"
    )
    statement.set_defaults(handler=statement_command)

    rec = commands.add_parser(
        "reconcile",
        help="reconcile every channel's statement with the ledger; the merged statement",
        description="Parse every channel's statement and match it line by line against "
        "the ledger: matched, platform-only, channel-only, amount mismatch, reversed "
        "after success. Exit status 1 when any line does not reconcile.",
    )
    _common(rec, default_ledger)
    rec.add_argument(
        "--statements",
        type=Path,
        metavar="DIR",
        help="read the channels' files from DIR (as `statement` names them) instead of "
        "producing them",
    )
    rec.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON")
    rec.add_argument(
        "--merged", type=Path, metavar="PATH", help="write the merchant's merged statement CSV"
    )
    rec.add_argument(
        "--printer",
        metavar="URL",
        help="print the merged statement's summary (ESC/POS) on this printer, "
        "e.g. file:///tmp/summary.bin or tcp://127.0.0.1:9100",
    )
    rec.set_defaults(handler=reconcile_command)

    revenue = commands.add_parser(
        "revenue",
        help="the platform's fees, channel costs and margin per day of a month",
        description="Per day of the month and in total: net volume, the merchant's fees, "
        "the channels' costs and the platform's margin (fee - cost).",
    )
    revenue.add_argument("--month", required=True, metavar="YYYY-MM")
    revenue.add_argument(
        "--ledger", default=default_ledger, metavar="PATH", help="SQLite ledger (%(default)s)"
    )
    revenue.add_argument("--merchant", metavar="MID", help="merchant id (default: the first)")
    revenue.add_argument("--profile", metavar="NAME", help="merchant profile (default: assigned)")
    revenue.add_argument("--profiles", default=DEFAULT_PROFILES, help=argparse.SUPPRESS)
    revenue.add_argument(
        "--provider",
        metavar="NAME",
        help="a service provider's rebate statements instead (firmware_fixtures/providers/): "
        "an official provider's monthly one, a bank provider's daily ones",
    )
    revenue.add_argument("--providers", default=DEFAULT_PROVIDERS, help=argparse.SUPPRESS)
    revenue.set_defaults(handler=revenue_command)

    deposits = commands.add_parser(
        "deposits",
        help="the merchant's T+1 deposits from each channel, expected vs actual",
        description="Per business day and channel: the deposit the merchant expects from "
        "the ledger (net less fees) and the one the channel settled directly (直清), on the "
        "next working day. Exit status 1 when any deposit differs.",
    )
    when = deposits.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", metavar="YYYY-MM-DD", help="one business day")
    when.add_argument("--month", metavar="YYYY-MM", help="every business day of a month")
    _common(deposits, default_ledger, with_date=False)
    deposits.add_argument("--providers", default=DEFAULT_PROVIDERS, help=argparse.SUPPRESS)
    deposits.set_defaults(handler=deposits_command)


def _common(
    parser: argparse.ArgumentParser, default_ledger: str, *, with_date: bool = True
) -> None:
    if with_date:
        parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the business day")
    parser.add_argument(
        "--ledger", default=default_ledger, metavar="PATH", help="SQLite ledger (%(default)s)"
    )
    parser.add_argument("--merchant", metavar="MID", help="merchant id (default: the first)")
    parser.add_argument("--profile", metavar="NAME", help="merchant profile (default: assigned)")
    parser.add_argument("--profiles", default=DEFAULT_PROFILES, help=argparse.SUPPRESS)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CHANNEL:KIND[:REF[:AMOUNT]]",
        help="make the channel's statement differ: channel_only, platform_only, "
        "amount_mismatch, reversed_after_success (repeatable)",
    )
    parser.add_argument("--faults", type=Path, metavar="YAML", help="a fault spec file")


def _merchant(args: argparse.Namespace) -> str:
    if args.merchant:
        return str(args.merchant)
    return next(iter(Merchants.load().merchants))


def _faults(args: argparse.Namespace) -> list[StatementFault]:
    faults = load_faults(args.faults) if args.faults else []
    return faults + [parse_flag(text) for text in args.fault]


def _run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except (SimulatorError, DriverError) as exc:
        print(f"possim gateway {args.gateway_command}: {exc}", file=sys.stderr, flush=True)
        return 2


def statement_command(args: argparse.Namespace) -> int:
    return _run(_statement, args)


def _statement(args: argparse.Namespace) -> int:
    day = parse_day(args.date)
    merchant = _merchant(args)
    profile = Profiles.load(args.profiles).for_merchant(merchant, args.profile)
    db = open_ledger(args.ledger)
    try:
        file = produce(db, args.channel, day, merchant, profile, _faults(args))
    finally:
        db.close()
    if args.out is None:
        sys.stdout.buffer.write(file.data)
        sys.stdout.flush()
    else:
        args.out.write_bytes(file.data)
        print(f"{file.filename} ({file.media_type}) -> {args.out}", file=sys.stderr)
    return 0


def reconcile_command(args: argparse.Namespace) -> int:
    return _run(_reconcile, args)


def _read_files(folder: Path, day: date, merchant: str) -> dict[str, StatementFile]:
    files = {}
    for channel, fmt in FORMATS.items():
        path = folder / fmt.filename(merchant, day)
        if not path.is_file():
            raise BackofficeError(f"no {channel} statement {path}")
        files[channel] = StatementFile(channel, path.name, fmt.media_type, path.read_bytes())
    return files


def _reconcile(args: argparse.Namespace) -> int:
    day = parse_day(args.date)
    merchant = _merchant(args)
    profile = Profiles.load(args.profiles).for_merchant(merchant, args.profile)
    faults = _faults(args)
    files = _read_files(args.statements, day, merchant) if args.statements else None
    db = open_ledger(args.ledger)
    try:
        result = run_day(db, day, merchant, profile, faults, files=files)
    finally:
        db.close()
    sys.stdout.write(result.report.text())
    fees = result.fees["total"]
    print(
        f"merchant fees {format_yuan(fees.fee_fen)}, channel costs {format_yuan(fees.cost_fen)}, "
        f"platform margin {format_yuan(fees.margin_fen)} (profile {profile.name})"
    )
    if args.json is not None:
        args.json.write_text(result.report.json(), encoding="utf-8")
    if args.merged is not None:
        args.merged.write_text(result.merged.csv(), encoding="utf-8")
    if args.printer is not None:
        merchant_info = Merchants.load().get(merchant)
        name = merchant_info.name if merchant_info is not None else merchant
        printer = open_device(Printer, args.printer)
        try:
            printer.print_document(result.merged.summary(name, width=printer.paper_width_chars))
        finally:
            printer.close()
    return 0 if result.report.balanced else 1


def revenue_command(args: argparse.Namespace) -> int:
    return _run(_revenue, args)


def _revenue(args: argparse.Namespace) -> int:
    year, month = parse_month(str(args.month))
    first = date(year, month, 1)
    if args.provider:
        return _provider_statements(args, year, month)
    merchant = _merchant(args)
    profile = Profiles.load(args.profiles).for_merchant(merchant, args.profile)
    db = open_ledger(args.ledger)
    month_total = FeeTotals()
    print(f"{'date':<10} {'lines':>6} {'volume':>14} {'fees':>10} {'costs':>10} {'margin':>10}")
    try:
        for number in range(1, calendar.monthrange(year, month)[1] + 1):
            day = first.replace(day=number)
            figures = totals(day_entries(db, day, merchant), profile)["total"]
            if figures.lines:
                print(_figures(day.isoformat(), figures))
            month_total += figures
    finally:
        db.close()
    print(_figures(f"{args.month}", month_total) + f"   profile {profile.name}")
    return 0


def _figures(label: str, f: FeeTotals) -> str:
    return (
        f"{label:<10} {f.lines:>6} {format_yuan(f.volume_fen):>14} {format_yuan(f.fee_fen):>10} "
        f"{format_yuan(f.cost_fen):>10} {format_yuan(f.margin_fen):>10}"
    )


def _provider_statements(args: argparse.Namespace, year: int, month: int) -> int:
    providers = Providers.load(args.providers)
    profiles = Profiles.load(args.profiles)
    provider = providers.get(args.provider)
    db = open_ledger(args.ledger)
    try:
        statements = month_statements(db, providers, provider.name, year, month, profiles)
    finally:
        db.close()
    for statement in statements:
        print("\n".join(statement.lines()))
    total = sum(s.total_fen for s in statements)
    count = len(statements)
    print(f"{args.month} {provider.name}: {count} statement(s), rebates {format_yuan(total)}")
    return 0


def deposits_command(args: argparse.Namespace) -> int:
    return _run(_deposits, args)


def _deposits(args: argparse.Namespace) -> int:
    days = month_days(*parse_month(str(args.month))) if args.month else [parse_day(args.date)]
    merchant = _merchant(args)
    profile = Profiles.load(args.profiles).for_merchant(merchant, args.profile)
    assignment = Providers.load(args.providers).merchants.get(merchant)
    faults = _faults(args)
    db = open_ledger(args.ledger)
    try:
        found = [
            d for day in days for d in day_deposits(db, day, merchant, profile, assignment, faults)
        ]
    finally:
        db.close()
    print(HEADER)
    for deposit in found:
        print(deposit.line())
    differing = [d for d in found if d.status != MATCHED]
    expected = sum(d.expected_fen for d in found)
    actual = sum(d.actual_fen for d in found)
    account = f"{assignment.account} account" if assignment else "no provider assignment"
    print(
        f"{len(found)} deposit(s) to {merchant} ({account}): expected {format_yuan(expected)}, "
        f"settled {format_yuan(actual)}, {len(differing)} differing"
    )
    return 1 if differing else 0
