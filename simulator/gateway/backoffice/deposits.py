"""Direct settlement (直清): each channel pays the merchant's account itself, T+1.

For a merchant's business day and channel the channel deposits, on the next
working day, the net of its own lines less the merchant's fee on each
(:func:`~simulator.gateway.backoffice.fees.line_fee` at the merchant's rate):
``deposit = sum(net) - sum(fee)``. The merchant expects the same sum from the
platform's ledger. A deposit reconciles when the two agree to the fen; when
they do not, the difference is what the channel's lines differ by
(``possim gateway reconcile`` names those lines). The provider is in neither
sum: it never touches the funds, and is paid its rebate separately
(:mod:`~simulator.gateway.backoffice.rebates`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date

import attrs

from simulator.gateway.backoffice.entries import CHANNELS, Entry
from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.fees import Profile, line_fee
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.providers import Assignment
from simulator.gateway.backoffice.rebates import next_working_day
from simulator.gateway.backoffice.statements import channel_view
from simulator.wire.money import format_yuan

MATCHED = "matched"
SHORT = "short"
OVER = "over"


def settled_fen(entries: Iterable[Entry], profile: Profile) -> int:
    """What a channel pays the merchant for these lines: net less the merchant's fees."""
    return sum(e.net_fen - line_fee(e, profile.rates[e.channel]) for e in entries)


@attrs.frozen
class Deposit:
    merchant_id: str
    channel: str
    business_day: date
    value_date: date
    account: str  # company | personal | "" (no provider assignment)
    account_name: str
    expected_fen: int  # from the platform's ledger
    actual_fen: int  # what the channel settled (its own lines)

    @property
    def difference_fen(self) -> int:
        return self.actual_fen - self.expected_fen

    @property
    def status(self) -> str:
        if self.difference_fen == 0:
            return MATCHED
        return SHORT if self.difference_fen < 0 else OVER

    def line(self) -> str:
        return (
            f"{self.business_day.isoformat()} {self.value_date.isoformat()} {self.channel:<12} "
            f"{self.account or '-':<8} {format_yuan(self.expected_fen):>12} "
            f"{format_yuan(self.actual_fen):>12} {format_yuan(self.difference_fen):>10} "
            f"{self.status}"
        )


HEADER = (
    f"{'business':<10} {'value':<10} {'channel':<12} {'account':<8} {'expected':>12} "
    f"{'actual':>12} {'diff':>10} status"
)


def day_deposits(
    db: sqlite3.Connection,
    day: date,
    merchant_id: str,
    profile: Profile,
    assignment: Assignment | None = None,
    faults: Iterable[StatementFault] = (),
    channels: Sequence[str] = CHANNELS,
) -> list[Deposit]:
    """The merchant's deposits for a business day, one per channel that has lines."""
    fault_list = list(faults)
    platform = day_entries(db, day, merchant_id)
    deposits = []
    for channel in channels:
        ours = [e for e in platform if e.channel == channel]
        theirs = channel_view(db, channel, day, merchant_id, profile, fault_list).entries
        if not ours and not theirs:
            continue
        deposits.append(
            Deposit(
                merchant_id,
                channel,
                day,
                next_working_day(day),
                assignment.account if assignment else "",
                assignment.account_name if assignment else "",
                settled_fen(ours, profile),
                settled_fen(theirs, profile),
            )
        )
    return deposits
