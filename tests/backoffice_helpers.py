"""A day of transactions written straight into a gateway ledger (QR through
QrService, card rows through Ledger.record_authorisation), on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from simulator.clock import DEFAULT_EPOCH, VirtualClock
from simulator.gateway.ledger import Ledger
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.qr.channels import Merchants, QrChannels
from simulator.gateway.qr.orders import QrService

MID = "898310048990001"
TID = "POSSIM01"
DAY = DEFAULT_EPOCH.date()
CODES = {
    "wechat": "134567890123456789",
    "alipay": "2834567890123456",
    "unionpay_qr": "6234567890123456789",
}
PAN = "6214830027183655"


class Day:
    """Writes one merchant's transactions; every call moves the clock a minute on."""

    def __init__(self, path: Path, start: datetime = DEFAULT_EPOCH) -> None:
        self.clock = VirtualClock(start)
        self.ledger = Ledger(path, self.clock)
        self.qr = QrService(
            self.ledger, QrChannels.load(), Merchants.load(), MagicAmounts.load(), self.clock
        )
        self._stan = 0

    def _tick(self) -> None:
        self.clock.sleep(60)

    def qr_pay(self, channel: str, order: str, fen: int) -> None:
        self._tick()
        reply = self.qr.micropay(
            merchant_id=MID,
            terminal_id=TID,
            out_trade_no=order,
            amount_fen=fen,
            auth_code=CODES[channel],
            description="",
        )
        assert reply.body["result"] == "SUCCESS", reply.body

    def qr_refund(self, order: str, refund_no: str, fen: int) -> None:
        self._tick()
        reply = self.qr.refund(MID, order, refund_no, fen)
        assert reply.body["result"] == "SUCCESS", reply.body

    def qr_revoke(self, order: str) -> None:
        self._tick()
        assert self.qr.reverse(MID, order).body["result"] == "SUCCESS"

    def _card(self, fen: int, rrn: str, mti: str, code: str, original: str | None) -> str:
        self._tick()
        self._stan += 1
        stan = f"{self._stan:06d}"
        self.ledger.record_authorisation(
            tid=TID,
            stan=stan,
            transmission=self.clock.now().strftime("%m%d%H%M%S"),
            mid=MID,
            amount=fen,
            currency="156",
            pan=PAN,
            status="approved",
            response_code="00",
            rrn=rrn,
            auth_code="123456",
            mti=mti,
            processing_code=code,
            batch_no="000001",
            original_rrn=original,
        )
        return stan

    def card_sale(self, rrn: str, fen: int) -> str:
        return self._card(fen, rrn, "0200", "000000", None)

    def card_void(self, rrn: str, original: str, fen: int) -> str:
        return self._card(fen, rrn, "0200", "200000", original)

    def card_refund(self, rrn: str, original: str, fen: int) -> str:
        return self._card(fen, rrn, "0220", "200000", original)

    def card_reverse(self, stan: str) -> None:
        entry = next(e for e in self.ledger.transactions() if e.stan == stan)
        assert self.ledger.reverse(entry.tid, entry.stan, entry.transmission).after is not None


@contextmanager
def a_day(path: Path) -> Iterator[Day]:
    day = Day(path)
    try:
        yield day
    finally:
        day.ledger.close()


def mixed_day(day: Day) -> None:
    """Every kind of line on every channel."""
    day.qr_pay("wechat", "W1", 1234)
    day.qr_pay("wechat", "W2", 999)
    day.qr_refund("W1", "W1R1", 500)
    day.qr_pay("alipay", "A1", 4567)
    day.qr_pay("alipay", "A2", 250)
    day.qr_revoke("A2")
    day.qr_pay("unionpay_qr", "U1", 8800)
    day.qr_refund("U1", "U1R1", 800)
    day.qr_refund("U1", "U1R2", 8000)
    day.card_sale("000000000001", 10000)
    day.card_sale("000000000002", 2999)
    day.card_void("000000000003", "000000000002", 2999)
    day.card_sale("000000000004", 7777)
    day.card_refund("000000000005", "000000000004", 1111)
    stan = day.card_sale("000000000006", 4200)
    day.card_reverse(stan)


def today() -> date:
    return DAY
