"""Reconciliation: each channel's statement (parsed from its own format) against
the platform's ledger, line by line.

Lines match on (channel, payment-or-refund side, ref): the QR out_trade_no or
out_refund_no, the card RRN. Each platform or channel line ends up in exactly
one category:

* ``matched``                -- both sides, same amount, same reversal state;
* ``amount_mismatch``        -- both sides, different amounts;
* ``reversed_after_success`` -- both sides, one says it was reversed/revoked;
* ``platform_only``          -- in the ledger, not on the channel's statement;
* ``channel_only``           -- on the channel's statement, not in the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import attrs

from simulator.gateway.backoffice.entries import CHANNELS, Entry
from simulator.gateway.backoffice.statement import Statement
from simulator.wire.money import format_yuan

MATCHED = "matched"
CATEGORIES = ("platform_only", "channel_only", "amount_mismatch", "reversed_after_success")


@attrs.frozen
class Exception_:
    """One line that does not reconcile, named exactly."""

    category: str
    channel: str
    kind: str
    ref: str  # out_trade_no / out_refund_no / RRN
    order: str
    platform_fen: int | None  # None: not on this side
    channel_fen: int | None
    platform_reversed: bool = False
    channel_reversed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "channel": self.channel,
            "kind": self.kind,
            "ref": self.ref,
            "order": self.order,
            "platform_amount": None
            if self.platform_fen is None
            else format_yuan(self.platform_fen),
            "channel_amount": None if self.channel_fen is None else format_yuan(self.channel_fen),
            "platform_reversed": self.platform_reversed,
            "channel_reversed": self.channel_reversed,
        }

    def text(self) -> str:
        def side(fen: int | None, reversed_: bool) -> str:
            if fen is None:
                return "-"
            return format_yuan(fen) + (" reversed" if reversed_ else "")

        return (
            f"{self.category:<23} {self.channel:<11} {self.kind:<7} {self.ref:<32} "
            f"platform {side(self.platform_fen, self.platform_reversed):<16} "
            f"channel {side(self.channel_fen, self.channel_reversed)}"
        )


@attrs.frozen
class Report:
    day: date
    merchant_id: str
    matched: Mapping[str, int]  # per channel
    exceptions: tuple[Exception_, ...]
    platform_net: Mapping[str, int]  # per channel, fen
    channel_net: Mapping[str, int]
    channel_fee: Mapping[str, int]

    @property
    def matched_total(self) -> int:
        return sum(self.matched.values())

    @property
    def balanced(self) -> bool:
        return not self.exceptions

    def of(self, category: str) -> list[Exception_]:
        return [e for e in self.exceptions if e.category == category]

    def status(self, entry: Entry) -> str:
        """The category of a platform line (``matched`` when it reconciled)."""
        for exc in self.exceptions:
            if (exc.channel, exc.ref) == (
                entry.channel,
                entry.ref,
            ) and exc.platform_fen is not None:
                return exc.category
        return MATCHED

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "merchant_id": self.merchant_id,
            "balanced": self.balanced,
            "matched": dict(self.matched),
            "matched_total": self.matched_total,
            **{c: [e.as_dict() for e in self.of(c)] for c in CATEGORIES},
            "totals": {
                ch: {
                    "platform_net": format_yuan(self.platform_net.get(ch, 0)),
                    "channel_net": format_yuan(self.channel_net.get(ch, 0)),
                    "channel_fee": format_yuan(self.channel_fee.get(ch, 0)),
                }
                for ch in CHANNELS
            },
        }

    def json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def text(self) -> str:
        lines = [
            f"Reconciliation {self.day} merchant {self.merchant_id}: "
            + ("balanced" if self.balanced else f"{len(self.exceptions)} exception(s)"),
            f"{'channel':<11} {'matched':>7} {'platform net':>14} {'channel net':>14} "
            f"{'channel fee':>12}",
        ]
        for ch in CHANNELS:
            platform_net = format_yuan(self.platform_net.get(ch, 0))
            channel_net = format_yuan(self.channel_net.get(ch, 0))
            channel_fee = format_yuan(self.channel_fee.get(ch, 0))
            lines.append(
                f"{ch:<11} {self.matched.get(ch, 0):>7} {platform_net:>14} "
                f"{channel_net:>14} {channel_fee:>12}"
            )
        if self.exceptions:
            lines.append("exceptions:")
            lines.extend("  " + e.text() for e in self.exceptions)
        return "\n".join(lines) + "\n"


def reconcile(
    day: date,
    merchant_id: str,
    platform: Iterable[Entry],
    statements: Mapping[str, Statement],
) -> Report:
    """Compare the platform's lines with every channel's statement."""
    ours = list(platform)
    theirs: dict[tuple[str, str, str], Entry] = {}
    repeated: list[Entry] = []  # a line whose key the channel already used: channel-only
    for statement in statements.values():
        for line in statement.entries:
            if line.key in theirs:
                repeated.append(line)
            else:
                theirs[line.key] = line
    mine = {e.key: e for e in ours}
    matched = dict.fromkeys(CHANNELS, 0)
    exceptions: list[Exception_] = []
    for key, entry in mine.items():
        other = theirs.get(key)
        category = _compare(entry, other)
        if category == MATCHED:
            matched[entry.channel] += 1
            continue
        exceptions.append(
            Exception_(
                category,
                entry.channel,
                entry.kind,
                entry.ref,
                entry.order,
                entry.amount_fen,
                None if other is None else other.amount_fen,
                entry.reversed,
                False if other is None else other.reversed,
            )
        )
    extras = [*(other for key, other in theirs.items() if key not in mine), *repeated]
    for other in extras:
        exceptions.append(
            Exception_(
                "channel_only",
                other.channel,
                other.kind,
                other.ref,
                other.order,
                None,
                other.amount_fen,
                False,
                other.reversed,
            )
        )
    return Report(
        day=day,
        merchant_id=merchant_id,
        matched=matched,
        exceptions=tuple(exceptions),
        platform_net=_sum(ours, lambda e: e.net_fen),
        channel_net=_sum([*theirs.values(), *repeated], lambda e: e.net_fen),
        channel_fee=_sum([*theirs.values(), *repeated], lambda e: e.channel_fee_fen),
    )


def _compare(entry: Entry, other: Entry | None) -> str:
    if other is None:
        return "platform_only"
    if other.amount_fen != entry.amount_fen:
        return "amount_mismatch"
    if other.reversed != entry.reversed:
        return "reversed_after_success"
    return MATCHED


def _sum(entries: Iterable[Entry], value: Any) -> dict[str, int]:
    totals = dict.fromkeys(CHANNELS, 0)
    for entry in entries:
        totals[entry.channel] = totals.get(entry.channel, 0) + int(value(entry))
    return totals
