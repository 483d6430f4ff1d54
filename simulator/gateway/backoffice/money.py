"""Money as integers of fen and rates as :class:`~decimal.Decimal`, never floats.

The fee rule (docs/backoffice.md): a fee is ``amount x rate`` rounded half-up
to the fen, per transaction, as WeChat Pay and Alipay round their service fees.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_SIGNED_YUAN = re.compile(r"^-?\d{1,13}\.\d{2}$")
_RATE = re.compile(r"^\d{1,2}(\.\d{1,4})?%$")
FEN = Decimal(1)


def yuan(fen: int) -> str:
    """1234 -> ``"12.34"``; -5 -> ``"-0.05"`` (two decimals, as every bill prints them)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def parse_signed_yuan(text: str) -> int:
    """``"-0.05"`` -> -5; exactly two decimals; ValueError otherwise."""
    cleaned = text.strip()
    if not _SIGNED_YUAN.match(cleaned):
        raise ValueError(f"{text!r} is not an amount in yuan with two decimals")
    return int(Decimal(cleaned) * 100)


def parse_rate(text: str) -> Decimal:
    """``"0.38%"`` -> Decimal("0.0038"); up to four decimals of a percent."""
    cleaned = str(text).strip()
    if not _RATE.match(cleaned):
        raise ValueError(f"{text!r} is not a rate like 0.38%")
    try:
        return Decimal(cleaned[:-1]) / 100
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{text!r} is not a rate") from None


def show_rate(rate: Decimal) -> str:
    """Decimal("0.0038") -> ``"0.38%"``."""
    percent = (rate * 100).normalize()
    text = f"{percent:f}"
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return text + "%"


def fee_fen(amount_fen: int, rate: Decimal) -> int:
    """The fee on ``amount_fen`` at ``rate``, rounded half-up to the fen."""
    if amount_fen < 0:
        raise ValueError("a fee is computed on a non-negative amount")
    return int((Decimal(amount_fen) * rate).quantize(FEN, rounding=ROUND_HALF_UP))


def refund_fee_fen(
    original_fen: int, refunded_before_fen: int, refund_fen: int, rate: Decimal
) -> int:
    """The fee a refund returns: what the remaining amount's fee drops by.

    Computed on the cumulative remainder, so the refunds of one payment return
    exactly the payment's fee once it is fully refunded, and the fee kept is
    always the fee of what is left (never a fen more or less).
    """
    before = original_fen - refunded_before_fen
    after = before - refund_fen
    if after < 0 or refunded_before_fen < 0:
        raise ValueError("a refund cannot exceed what is left of the payment")
    return fee_fen(before, rate) - fee_fen(after, rate)
