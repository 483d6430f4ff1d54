"""The service provider's books: what each channel (or bank) pays the provider.

The seed's formulas, per merchant and channel of the provider:

* official provider, **monthly**: ``rebate = volume x (merchant rate - channel
  cost)``, plus each incentive programme of that channel:
  ``min(cap, qualifying volume x extra rate)`` (never below zero);
* bank provider, **daily**: ``rebate = volume x (merchant rate - agreed rate)``.

``volume`` is the period's net volume (payments - refunds - voids; a reversed
line counts nothing), the same lines as the merchant's fees
(:mod:`~simulator.gateway.backoffice.ledger_view`). The rounding rule is
possim's and documented (docs/backoffice.md): each product is rounded **once**,
per statement row, half-up to the fen (away from zero for a negative
volume), as :func:`~simulator.wire.money.fee_fen` rounds a fee: the rule WeChat Pay and
Alipay apply to their fees. A statement row is one merchant x channel x
period, so the rebate is the seed's formula on the row's volume, not a sum of
per-line roundings.
"""

from __future__ import annotations

import calendar
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import attrs

from simulator.gateway.backoffice.entries import PAYMENT, Entry
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.backoffice.fees import Profiles
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.providers import BANK, OFFICIAL, Incentive, Provider, Providers
from simulator.wire.money import FEN, format_yuan, show_rate


def rounded_fen(volume_fen: int, rate: Decimal) -> int:
    """``volume x rate`` rounded half-up to the fen; a negative product (refunds above
    payments, or a provider rate above the merchant's) half away from zero."""
    return int((Decimal(volume_fen) * rate).quantize(FEN, rounding=ROUND_HALF_UP))


def rebate_fen(volume_fen: int, merchant_rate: Decimal, provider_rate: Decimal) -> int:
    """``volume x (merchant rate - provider rate)``, rounded half-up to the fen."""
    return rounded_fen(volume_fen, merchant_rate - provider_rate)


def qualifying_fen(entries: Iterable[Entry], incentive: Incentive) -> int:
    """The net volume of the incentive's channel from payments of at least its minimum
    (a refund or void counts against it when its payment did)."""
    total = 0
    for entry in entries:
        if entry.channel != incentive.channel:
            continue
        payment = entry.amount_fen if entry.kind == PAYMENT else entry.original_fen
        if (payment or entry.amount_fen) >= incentive.min_payment_fen:
            total += entry.net_fen
    return total


def incentive_fen(entries: Iterable[Entry], incentive: Incentive) -> int:
    earned = max(0, rounded_fen(qualifying_fen(entries, incentive), incentive.extra_rate))
    cap = incentive.monthly_cap_fen
    return earned if cap is None else min(cap, earned)


@attrs.frozen
class RebateRow:
    merchant_id: str
    channel: str
    volume_fen: int
    merchant_rate: Decimal
    provider_rate: Decimal
    rebate_fen: int
    incentives: tuple[tuple[str, int], ...] = ()

    @property
    def total_fen(self) -> int:
        return self.rebate_fen + sum(fen for _, fen in self.incentives)


@attrs.frozen
class RebateStatement:
    """What one provider is paid for one period: a month (official) or a day (bank)."""

    provider: Provider
    period: str  # YYYY-MM or YYYY-MM-DD
    paid_on: date
    rows: tuple[RebateRow, ...]

    @property
    def total_fen(self) -> int:
        return sum(row.total_fen for row in self.rows)

    def lines(self) -> list[str]:
        kind = "monthly" if self.provider.type == OFFICIAL else "daily"
        out = [
            f"{self.provider.name} ({self.provider.type}) {kind} rebate statement {self.period}, "
            f"paid {self.paid_on.isoformat()}",
            f"  {'merchant':<16} {'channel':<12} {'volume':>14} {'rate':>6} "
            f"{'cost' if self.provider.type == OFFICIAL else 'agreed':>6} {'rebate':>10}",
        ]
        for row in self.rows:
            out.append(
                f"  {row.merchant_id:<16} {row.channel:<12} {format_yuan(row.volume_fen):>14} "
                f"{show_rate(row.merchant_rate):>6} {show_rate(row.provider_rate):>6} "
                f"{format_yuan(row.rebate_fen):>10}"
            )
            for name, fen in row.incentives:
                out.append(f"  {'':<16} {'+ ' + name:<42}{format_yuan(fen):>10}")
        out.append(f"  {'total':<59}{format_yuan(self.total_fen):>10}")
        return out


def next_working_day(day: date) -> date:
    """The next Monday-to-Friday day (public holidays are not modelled)."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def month_days(year: int, month: int) -> list[date]:
    return [date(year, month, n) for n in range(1, calendar.monthrange(year, month)[1] + 1)]


def parse_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except ValueError:
        raise BackofficeError(f"month {text!r}: expected YYYY-MM") from None
    return year, month


def _rows(
    provider: Provider,
    merchant_id: str,
    entries: Sequence[Entry],
    profiles: Profiles,
    with_incentives: bool,
) -> list[RebateRow]:
    profile = profiles.for_merchant(merchant_id)
    rows = []
    for channel in provider.channels:
        lines = [e for e in entries if e.channel == channel]
        if not lines:
            continue
        volume = sum(e.net_fen for e in lines)
        rate, cost = profile.rates[channel], provider.rates[channel]
        incentives = tuple(
            (i.name, incentive_fen(lines, i))
            for i in (provider.incentives if with_incentives else ())
            if i.channel == channel
        )
        rows.append(
            RebateRow(
                merchant_id, channel, volume, rate, cost, rebate_fen(volume, rate, cost), incentives
            )
        )
    return rows


def official_statement(
    db: sqlite3.Connection,
    providers: Providers,
    name: str,
    year: int,
    month: int,
    profiles: Profiles,
) -> RebateStatement:
    """The official provider's monthly rebate statement, every merchant it signed up."""
    provider = providers.get(name)
    if provider.type != OFFICIAL:
        raise BackofficeError(f"{name} is a {provider.type} provider: its rebates are daily")
    days = month_days(year, month)
    rows = []
    for assignment in providers.merchants_of(name):
        entries = [e for day in days for e in day_entries(db, day, assignment.merchant_id)]
        rows += _rows(provider, assignment.merchant_id, entries, profiles, with_incentives=True)
    return RebateStatement(
        provider, f"{year:04d}-{month:02d}", next_working_day(days[-1]), tuple(rows)
    )


def bank_statement(
    db: sqlite3.Connection, providers: Providers, name: str, day: date, profiles: Profiles
) -> RebateStatement:
    """The bank provider's daily rebate statement, every merchant it signed up."""
    provider = providers.get(name)
    if provider.type != BANK:
        raise BackofficeError(f"{name} is an {provider.type} provider: its rebates are monthly")
    rows = []
    for assignment in providers.merchants_of(name):
        entries = day_entries(db, day, assignment.merchant_id)
        rows += _rows(provider, assignment.merchant_id, entries, profiles, with_incentives=False)
    return RebateStatement(provider, day.isoformat(), next_working_day(day), tuple(rows))


def month_statements(
    db: sqlite3.Connection,
    providers: Providers,
    name: str,
    year: int,
    month: int,
    profiles: Profiles,
) -> list[RebateStatement]:
    """A provider's statements for a month: one (official) or one per trading day (bank)."""
    if providers.get(name).type == OFFICIAL:
        return [official_statement(db, providers, name, year, month, profiles)]
    statements = [bank_statement(db, providers, name, d, profiles) for d in month_days(year, month)]
    return [s for s in statements if s.rows]
