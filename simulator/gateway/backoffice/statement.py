"""A channel's statement for one merchant and day, and the format registry.

Each channel writes its own file format (:mod:`.formats`); every format turns
a :class:`Statement` into bytes and parses those bytes back to an equal
:class:`Statement` (the round trip is tested).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol

import attrs

from simulator.gateway.backoffice.entries import Entry


@attrs.frozen
class Statement:
    channel: str
    merchant_id: str
    day: date
    entries: tuple[Entry, ...]
    cost_rate: Decimal | None = None  # the fee rate, when the format shows one

    @property
    def net_fen(self) -> int:
        return sum(e.net_fen for e in self.entries)

    @property
    def fee_fen(self) -> int:
        return sum(e.channel_fee_fen for e in self.entries)


class StatementFormat(Protocol):
    channel: str
    media_type: str  # e.g. "text/csv; charset=GBK"

    def filename(self, merchant_id: str, day: date) -> str: ...

    def render(self, statement: Statement) -> bytes: ...

    def parse(self, data: bytes, *, day: date, merchant_id: str) -> Statement: ...


# The Entry fields every statement format carries (a format may carry more,
# e.g. the card file's masked PAN and batch): what a round trip preserves.
CARRIED = ("channel", "kind", "ref", "order", "amount_fen", "at", "reversed", "transaction_id",
           "terminal_id", "channel_fee_fen")  # fmt: skip


def carried(entry: Entry) -> tuple[object, ...]:
    return tuple(getattr(entry, name) for name in CARRIED)
