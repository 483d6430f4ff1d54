"""UnionPay QR's merchant settlement detail, in the style of UnionPay's
fixed-width flow files (一般交易流水): ASCII, one line per transaction, no
header, every field at a fixed column.

Columns: transaction code (S22 purchase, S30 refund; the purchase of a
payment reversed the same day is S22 with reversal flag 1), acquirer and
forwarding institution codes, system trace number, transmission time
(MMDDhhmmss), settlement date (YYYYMMDD), amount in fen (12 digits), fee
direction (D charged to the platform, C returned) and fee in fen, the
merchant's order number, UnionPay's query id (its transaction id), the
original order number (refunds), merchant id, terminal id, reversal flag.
The layout follows UnionPay's files' shape; the transaction codes are the
ones documented here, not a claim on UnionPay's full code table.
"""

from __future__ import annotations

from datetime import date, datetime

from simulator.gateway.backoffice.entries import PAYMENT, REFUND, Entry
from simulator.gateway.backoffice.errors import StatementFormatError
from simulator.gateway.backoffice.formats.fixed_width import layout
from simulator.gateway.backoffice.statement import Statement

CHANNEL = "unionpay_qr"
ACQUIRER = "48020000"
FORWARDER = "00010000"
CODES = {PAYMENT: "S22", REFUND: "S30"}
_KINDS = {v: k for k, v in CODES.items()}
LAYOUT = layout(
    CHANNEL,
    (
        ("code", 3, False),
        ("acquirer", 11, False),
        ("forwarder", 11, False),
        ("trace", 6, True),
        ("time", 10, True),
        ("settle_date", 8, True),
        ("amount", 12, True),
        ("fee_sign", 1, False),
        ("fee", 12, True),
        ("ref", 32, False),
        ("query_id", 32, False),
        ("order", 32, False),
        ("merchant", 15, False),
        ("terminal", 8, False),
        ("reversed", 1, True),
    ),
)


class UnionPayQrFile:
    channel = CHANNEL
    media_type = "text/plain; charset=us-ascii"

    def filename(self, merchant_id: str, day: date) -> str:
        return f"INN{day:%y%m%d}01ACOMN_{merchant_id}"

    def render(self, statement: Statement) -> bytes:
        lines = []
        for trace, e in enumerate(statement.entries, start=1):
            at = datetime.fromisoformat(e.at)
            lines.append(
                LAYOUT.format(
                    {
                        "code": CODES[e.kind],
                        "acquirer": ACQUIRER,
                        "forwarder": FORWARDER,
                        "trace": f"{trace % 1_000_000:06d}",
                        "time": at.strftime("%m%d%H%M%S"),
                        "settle_date": statement.day.strftime("%Y%m%d"),
                        "amount": str(e.amount_fen),
                        "fee_sign": "C" if e.channel_fee_fen < 0 else "D",
                        "fee": str(abs(e.channel_fee_fen)),
                        "ref": e.ref,
                        "query_id": e.transaction_id,
                        "order": "" if e.kind == PAYMENT else e.order,
                        "merchant": statement.merchant_id,
                        "terminal": e.terminal_id,
                        "reversed": "1" if e.reversed else "0",
                    }
                )
            )
        return "".join(line + "\r\n" for line in lines).encode("ascii")

    def parse(self, data: bytes, *, day: date, merchant_id: str) -> Statement:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise StatementFormatError(CHANNEL, "not ASCII") from None
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            values = LAYOUT.parse(line, number)
            kind = _KINDS.get(values["code"])
            if kind is None:
                raise StatementFormatError(CHANNEL, f"transaction code {values['code']!r}", number)
            if values["merchant"] != merchant_id or values["settle_date"] != f"{day:%Y%m%d}":
                raise StatementFormatError(
                    CHANNEL, f"not merchant {merchant_id} on {day:%Y%m%d}", number
                )
            if values["fee_sign"] not in ("C", "D") or values["reversed"] not in ("0", "1"):
                raise StatementFormatError(CHANNEL, "fee sign C/D, reversal flag 0/1", number)
            fee = int(values["fee"])
            try:
                at = datetime.strptime(f"{day.year}{values['time']}", "%Y%m%d%H%M%S")
            except ValueError:
                raise StatementFormatError(CHANNEL, f"time {values['time']!r}", number) from None
            entries.append(
                Entry(
                    channel=CHANNEL,
                    kind=kind,
                    ref=values["ref"],
                    order=values["ref"] if kind == PAYMENT else values["order"],
                    amount_fen=int(values["amount"]),
                    at=at.isoformat(),
                    reversed=values["reversed"] == "1",
                    transaction_id=values["query_id"],
                    terminal_id=values["terminal"],
                    channel_fee_fen=-fee if values["fee_sign"] == "C" else fee,
                )
            )
        return Statement(CHANNEL, merchant_id, day, tuple(entries))
