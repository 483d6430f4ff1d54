"""One line of a statement, the same shape whether the platform's ledger or a
channel's statement says it: what reconciliation compares."""

from __future__ import annotations

import attrs

CARD = "card"
QR_CHANNELS = ("wechat", "alipay", "unionpay_qr")
CHANNELS = (*QR_CHANNELS, CARD)
CHANNEL_NAMES = {
    "wechat": "微信支付 WECHAT",
    "alipay": "支付宝 ALIPAY",
    "unionpay_qr": "银联二维码 UNIONPAY QR",
    "card": "银行卡 CARD",
}

PAYMENT = "payment"
REFUND = "refund"
VOID = "void"
KINDS = (PAYMENT, REFUND, VOID)


@attrs.frozen
class Entry:
    """A payment, refund or void on one channel.

    ``ref`` identifies the line on its channel: a QR payment's out_trade_no, a
    QR refund's out_refund_no, a card row's RRN. ``order`` is the payment the
    line belongs to (itself for a payment; the original out_trade_no or RRN for
    a refund or void). ``reversed``: the line was undone the same day (a QR
    order reversed/revoked, a card row reversed by a 0400), so it moves no money.
    """

    channel: str
    kind: str
    ref: str
    order: str
    amount_fen: int
    at: str  # ISO 8601 local time
    reversed: bool = False
    transaction_id: str = ""  # the channel's own id (WeChat order no, refund id, RRN)
    terminal_id: str = ""
    method: str = ""  # QR: micropay | precreate
    masked_pan: str = ""  # card only, masked first-6/last-4
    batch_no: str = ""
    # For the fee a refund returns: the payment's amount and what earlier refunds took.
    original_fen: int = 0
    refunded_before_fen: int = 0
    # What the channel's statement says its fee is (0 for the platform's own lines).
    channel_fee_fen: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        """What reconciliation matches on: channel, payment or refund side, ref."""
        return (self.channel, PAYMENT if self.kind == PAYMENT else REFUND, self.ref)

    @property
    def net_fen(self) -> int:
        """Money this line moves to the merchant: + a payment, - a refund or void."""
        if self.reversed:
            return 0
        return self.amount_fen if self.kind == PAYMENT else -self.amount_fen
