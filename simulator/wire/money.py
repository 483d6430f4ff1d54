"""Money as integers of fen and rates as :class:`~decimal.Decimal`, never floats.

Amounts in text are yuan with two decimals (``"12.34"``): :func:`format_yuan`
writes them for screens, receipts, speech and bills alike; :func:`parse_yuan`
reads what a person types (a scenario, a config, the cashier: 0.01 to
9999999999.99 yuan, :data:`MIN_FEN` to :data:`MAX_FEN` -- ten yuan digits, the
twelve-digit amount of the app-to-app contract and ISO 8583 DE4);
:func:`parse_signed_yuan` reads a channel's bill column.

The fee rule (docs/backoffice.md): a fee is ``amount x rate`` rounded half-up
to the fen, per transaction, as WeChat Pay and Alipay round their service fees.

>>> format_yuan(parse_yuan("12.3")), fee_fen(1234, parse_rate("0.38%"))
('12.30', 5)
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_AMOUNT_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
_SIGNED_YUAN = re.compile(r"^-?\d{1,13}\.\d{2}$")
_RATE = re.compile(r"^\d{1,2}(\.\d{1,4})?%$")
FEN = Decimal(1)

MIN_FEN = 1
MAX_FEN = 999_999_999_999  # 9999999999.99 yuan


def format_yuan(fen: int) -> str:
    """Fen as yuan with two decimals, as every screen, receipt and bill prints them.

    >>> format_yuan(1234), format_yuan(-5), format_yuan(100)
    ('12.34', '-0.05', '1.00')
    """
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def parse_yuan(text: str) -> int:
    """An amount a person typed, in fen; ValueError with a readable reason otherwise.

    >>> parse_yuan("12.34"), parse_yuan(" 5 ")
    (1234, 500)
    >>> parse_yuan("12.345")
    Traceback (most recent call last):
    ...
    ValueError: '12.345' is not an amount in yuan like 12.34 (at most 2 decimals)
    """
    cleaned = text.strip()
    if not _AMOUNT_RE.match(cleaned):
        raise ValueError(f"{text!r} is not an amount in yuan like 12.34 (at most 2 decimals)")
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None


def parse_signed_yuan(text: str) -> int:
    """A bill's amount column in fen: a sign, exactly two decimals; ValueError otherwise.

    >>> parse_signed_yuan("-0.05")
    -5
    """
    cleaned = text.strip()
    if not _SIGNED_YUAN.match(cleaned):
        raise ValueError(f"{text!r} is not an amount in yuan with two decimals")
    return int(Decimal(cleaned) * 100)


def parse_rate(text: str) -> Decimal:
    """A rate as a fraction; up to four decimals of a percent.

    >>> parse_rate("0.38%")
    Decimal('0.0038')
    """
    cleaned = str(text).strip()
    if not _RATE.match(cleaned):
        raise ValueError(f"{text!r} is not a rate like 0.38%")
    try:
        return Decimal(cleaned[:-1]) / 100
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{text!r} is not a rate") from None


def show_rate(rate: Decimal) -> str:
    """A rate as a percent with at least two decimals.

    >>> show_rate(Decimal("0.0038")), show_rate(Decimal("0.006"))
    ('0.38%', '0.60%')
    """
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
