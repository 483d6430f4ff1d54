"""The merchant's merged statement: one CSV of the day's lines on every channel,
from the platform's ledger, each with its fee and its reconciliation status;
and a printed summary (``firmware_fixtures/receipts/merged_statement.yaml``)
whose channel rows add up to its total.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date

import attrs

from drivers.printer import PrintDocument
from simulator.gateway.backoffice.entries import CHANNEL_NAMES, CHANNELS, PAYMENT, VOID, Entry
from simulator.gateway.backoffice.fees import Profile, line_fee
from simulator.gateway.backoffice.reconcile import Report
from simulator.wire.money import format_yuan
from simulator.wire.receipts import ReceiptTemplate

TEMPLATE = "merged_statement"
COLUMNS = (
    "date_time", "channel", "type", "order_no", "ref", "transaction_id", "terminal_id",
    "masked_pan", "amount", "net", "fee", "reconciliation",
)  # fmt: skip
TOTAL_LABEL = "合计 TOTAL"


@attrs.frozen
class ChannelTotals:
    sale_count: int = 0
    sale_fen: int = 0
    void_count: int = 0
    void_fen: int = 0
    refund_count: int = 0
    refund_fen: int = 0
    fee_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.sale_fen - self.void_fen - self.refund_fen

    def add(self, entry: Entry, fee: int) -> ChannelTotals:
        sale = entry.kind == PAYMENT
        undone = (sale and entry.reversed) or (entry.kind == VOID and not entry.reversed)
        refund = entry.kind not in (PAYMENT, VOID) and not entry.reversed
        return ChannelTotals(
            self.sale_count + sale,
            self.sale_fen + (entry.amount_fen if sale else 0),
            self.void_count + undone,
            self.void_fen + (entry.amount_fen if undone else 0),
            self.refund_count + refund,
            self.refund_fen + (entry.amount_fen if refund else 0),
            self.fee_fen + fee,
        )

    def __add__(self, other: ChannelTotals) -> ChannelTotals:
        return ChannelTotals(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )


@attrs.frozen
class MergedStatement:
    day: date
    merchant_id: str
    entries: tuple[Entry, ...]
    fees: tuple[int, ...]  # the merchant's fee per entry
    statuses: tuple[str, ...]  # reconciliation category per entry
    channels: Mapping[str, ChannelTotals]

    @property
    def total(self) -> ChannelTotals:
        return sum(self.channels.values(), ChannelTotals())

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for entry, fee, status in zip(self.entries, self.fees, self.statuses, strict=True):
            kind = "reversed " + entry.kind if entry.reversed else entry.kind
            writer.writerow(
                (
                    entry.at[:19],
                    entry.channel,
                    kind,
                    entry.order,
                    entry.ref,
                    entry.transaction_id,
                    entry.terminal_id,
                    entry.masked_pan,
                    format_yuan(entry.amount_fen),
                    format_yuan(entry.net_fen),
                    format_yuan(fee),
                    status,
                )
            )
        return out.getvalue()

    def summary(self, merchant_name: str, *, width: int = 32) -> PrintDocument:
        rows = [_row(CHANNEL_NAMES[ch], totals) for ch, totals in self.channels.items()]
        rows.append(_row(TOTAL_LABEL, self.total))
        values = {
            "merchant_name": merchant_name,
            "merchant_id": self.merchant_id,
            "datetime": self.day.isoformat(),
            "amount": format_yuan(self.total.net_fen),
        }
        template = ReceiptTemplate.load(TEMPLATE)
        return template.render("merchant", values, width=width, rows={"totals": rows})


def _row(label: str, totals: ChannelTotals) -> dict[str, str]:
    return {
        "card_label": label,
        "sale_count": str(totals.sale_count),
        "sale_amount": format_yuan(totals.sale_fen),
        "void_count": str(totals.void_count),
        "void_amount": format_yuan(totals.void_fen),
        "refund_count": str(totals.refund_count),
        "refund_amount": format_yuan(totals.refund_fen),
    }


def merge(
    day: date,
    merchant_id: str,
    platform: Sequence[Entry],
    profile: Profile,
    report: Report | None = None,
) -> MergedStatement:
    """The merged statement of the platform's lines, in time order (stable)."""
    entries = sorted(platform, key=lambda e: e.at[:19])
    fees = [line_fee(e, profile.rates[e.channel]) for e in entries]
    statuses = ["matched" if report is None else report.status(e) for e in entries]
    channels = {ch: ChannelTotals() for ch in CHANNELS}
    for entry, fee in zip(entries, fees, strict=True):
        channels[entry.channel] = channels[entry.channel].add(entry, fee)
    return MergedStatement(day, merchant_id, tuple(entries), tuple(fees), tuple(statuses), channels)
