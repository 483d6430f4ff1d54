"""A month of one merchant's trading, generated from a seed on a virtual clock and
written into a gateway ledger (QR through QrService, card rows through the
Ledger), and the generator's own record of every line: what an independent
oracle computes the books from, without reading the ledger back."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import attrs
from backoffice_helpers import Day

from simulator.clock import CHINA_STANDARD_TIME
from simulator.gateway.backoffice.entries import CARD, QR_CHANNELS

_MAGIC_FEN = {5, 51, 54, 55, 68, 91, 96}  # magic_amounts.yaml: these fen parts decline
OPENING_HOUR = 9


@attrs.define
class Line:
    """One money line as the generator made it."""

    day: date
    channel: str
    payment_fen: int  # the payment this line belongs to (its own amount for a payment)
    amount_fen: int
    refunded_before_fen: int = 0  # for a refund or void: what earlier ones took
    is_payment: bool = True
    undone: bool = False  # a payment revoked or reversed the same day: no money moved


@attrs.define
class _Payment:
    line: Line
    ref: str
    stan: str = ""
    offsets: int = 0


def _amount(rng: random.Random) -> int:
    while True:
        fen = rng.choice((rng.randint(1, 999), rng.randint(100, 30_000), rng.randint(1, 99_999)))
        if fen % 100 not in _MAGIC_FEN:
            return fen


def generate_month(path: Path, seed: int, year: int, month: int, days: int) -> list[Line]:
    """Trade ``days`` days from the first of the month: 0-6 operations a day."""
    rng = random.Random(seed)
    start = datetime(year, month, 1, OPENING_HOUR, tzinfo=CHINA_STANDARD_TIME)
    trading = Day(path, start)
    lines: list[Line] = []
    payments: list[_Payment] = []
    try:
        for number in range(days):
            today = start.date() + timedelta(days=number)
            opening = datetime.combine(today, start.timetz())
            trading.clock.sleep((opening - trading.clock.now()).total_seconds())
            for _ in range(rng.randint(0, 6)):
                _operate(trading, rng, today, lines, payments)
    finally:
        trading.ledger.close()
    return lines


def _operate(
    trading: Day, rng: random.Random, today: date, lines: list[Line], payments: list[_Payment]
) -> None:
    action = rng.choice(("qr_pay", "qr_pay", "card_sale", "refund", "undo"))
    number = len(payments) + 1
    if action in ("qr_pay", "card_sale") or not payments:
        channel = rng.choice(QR_CHANNELS) if action == "qr_pay" else CARD
        fen = _amount(rng)
        line = Line(today, channel, fen, fen)
        payment = _Payment(line, f"{number:012d}")
        if channel == CARD:
            payment.stan = trading.card_sale(payment.ref, fen)
        else:
            trading.qr_pay(channel, payment.ref, fen)
        lines.append(line)
        payments.append(payment)
        return
    payment = rng.choice(payments)
    left = payment.line.amount_fen - payment.offsets
    if payment.line.undone or left == 0:
        return
    same_day = payment.line.day == today
    channel = payment.line.channel
    if action == "undo" and same_day and payment.offsets == 0:
        # the same day: a QR order revoked, a card sale voided or reversed
        if channel != CARD:
            trading.qr_revoke(payment.ref)
            payment.line.undone = True
        elif rng.random() < 0.5:
            trading.card_reverse(payment.stan)
            payment.line.undone = True
        else:
            trading.card_void(f"V{number:011d}", payment.ref, left)
            lines.append(Line(today, CARD, left, left, 0, is_payment=False))
            payment.offsets = left
        return
    fen = rng.randint(1, left)
    if channel == CARD:
        trading.card_refund(f"R{number:011d}", payment.ref, fen)
    else:
        trading.qr_refund(payment.ref, f"{payment.ref}R{payment.offsets}", fen)
    lines.append(
        Line(today, channel, payment.line.amount_fen, fen, payment.offsets, is_payment=False)
    )
    payment.offsets += fen
