"""A card batch's totals and how a 0500/0510 carries them in DE48 (CUP layout).

DE48 is 62 digits: for domestic cards the debit amount n12 (fen), debit count
n3, credit amount n12, credit count n3 and the result code n1 (``0`` in the
terminal's 0500; ``1`` balanced / ``2`` out of balance in the host's 0510),
then the same 31 digits for foreign cards (always zero in possim). Debit =
approved sales; credit = approved voids and refunds. See docs/settlement.md.
"""

from __future__ import annotations

import attrs

DE48_LENGTH = 62
SETTLE_PENDING = "0"  # in the 0500
SETTLE_BALANCED = "1"
SETTLE_OUT_OF_BALANCE = "2"
_MAX_COUNT = 999
_MAX_AMOUNT = 10**12 - 1


@attrs.frozen
class BatchTotals:
    debit_count: int = 0
    debit_total: int = 0  # fen
    credit_count: int = 0
    credit_total: int = 0  # fen

    @property
    def net(self) -> int:
        return self.debit_total - self.credit_total


def encode_de48(totals: BatchTotals, result: str = SETTLE_PENDING) -> str:
    if max(totals.debit_count, totals.credit_count) > _MAX_COUNT or (
        max(totals.debit_total, totals.credit_total) > _MAX_AMOUNT
    ):
        raise ValueError(f"batch totals do not fit DE48: {totals}")
    domestic = (
        f"{totals.debit_total:012d}{totals.debit_count:03d}"
        f"{totals.credit_total:012d}{totals.credit_count:03d}{result}"
    )
    return domestic.ljust(DE48_LENGTH, "0")


def decode_de48(de48: str) -> tuple[BatchTotals, str] | None:
    """DE48 -> (domestic totals, result code); None if it is not this layout.

    >>> totals = BatchTotals(debit_count=2, debit_total=2468, credit_count=1, credit_total=1234)
    >>> decode_de48(encode_de48(totals)) == (totals, SETTLE_PENDING)
    True
    """
    if len(de48) != DE48_LENGTH or not (de48.isascii() and de48.isdigit()):
        return None
    totals = BatchTotals(
        debit_count=int(de48[12:15]),
        debit_total=int(de48[0:12]),
        credit_count=int(de48[27:30]),
        credit_total=int(de48[15:27]),
    )
    return totals, de48[30]
