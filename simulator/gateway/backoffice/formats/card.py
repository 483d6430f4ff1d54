"""The card acquirer's settlement file for one merchant and day, in the CUP
style: fixed-width ASCII records, a header (H), one detail record (D) per
transaction the acquirer settled or saw reversed, and a trailer (T) with the
count, the net amount and the fee total.

Detail columns: MTI and processing code (0200/000000 sale, 0200/200000
void, 0220/200000 refund), RRN, original RRN (void/refund), terminal id,
batch number, masked PAN (first 6, last 4: the full PAN never leaves the
authorisation), amount in fen, fee direction (D charged, C returned) and fee
in fen, local transaction time (YYYYMMDDhhmmss), reversal flag (1: undone
by a 0400 reversal).
"""

from __future__ import annotations

from datetime import date, datetime

from simulator.gateway.backoffice.entries import CARD, PAYMENT, REFUND, VOID, Entry
from simulator.gateway.backoffice.errors import StatementFormatError
from simulator.gateway.backoffice.formats.fixed_width import layout
from simulator.gateway.backoffice.statement import Statement

CHANNEL = CARD
ACQUIRER = "48020000"
CODES = {PAYMENT: ("0200", "000000"), VOID: ("0200", "200000"), REFUND: ("0220", "200000")}
_KINDS = {v: k for k, v in CODES.items()}
HEADER = layout(
    CHANNEL,
    (("type", 1, False), ("settle_date", 8, True), ("acquirer", 11, False),
     ("merchant", 15, False), ("file_seq", 4, True)),
)  # fmt: skip
DETAIL = layout(
    CHANNEL,
    (
        ("type", 1, False),
        ("mti", 4, True),
        ("processing_code", 6, True),
        ("rrn", 12, False),
        ("original_rrn", 12, False),
        ("terminal", 8, False),
        ("batch", 6, False),
        ("pan", 19, False),
        ("amount", 12, True),
        ("fee_sign", 1, False),
        ("fee", 12, True),
        ("time", 14, True),
        ("reversed", 1, True),
    ),
)
TRAILER = layout(
    CHANNEL,
    (("type", 1, False), ("count", 8, True), ("net_sign", 1, False), ("net", 15, True),
     ("fee_sign", 1, False), ("fee", 15, True)),
)  # fmt: skip


def _sign(value: int) -> str:
    return "C" if value < 0 else "D"


class CardSettlementFile:
    channel = CHANNEL
    media_type = "text/plain; charset=us-ascii"

    def filename(self, merchant_id: str, day: date) -> str:
        return f"ACQ{day:%Y%m%d}_{merchant_id}.txt"

    def render(self, statement: Statement) -> bytes:
        lines = [
            HEADER.format(
                {
                    "type": "H",
                    "settle_date": f"{statement.day:%Y%m%d}",
                    "acquirer": ACQUIRER,
                    "merchant": statement.merchant_id,
                    "file_seq": "1",
                }
            )
        ]
        for e in statement.entries:
            mti, code = CODES[e.kind]
            lines.append(
                DETAIL.format(
                    {
                        "type": "D",
                        "mti": mti,
                        "processing_code": code,
                        "rrn": e.ref,
                        "original_rrn": "" if e.kind == PAYMENT else e.order,
                        "terminal": e.terminal_id,
                        "batch": e.batch_no,
                        "pan": e.masked_pan,
                        "amount": str(e.amount_fen),
                        "fee_sign": _sign(e.channel_fee_fen),
                        "fee": str(abs(e.channel_fee_fen)),
                        "time": datetime.fromisoformat(e.at).strftime("%Y%m%d%H%M%S"),
                        "reversed": "1" if e.reversed else "0",
                    }
                )
            )
        lines.append(
            TRAILER.format(
                {
                    "type": "T",
                    "count": str(len(statement.entries)),
                    "net_sign": _sign(-statement.net_fen),
                    "net": str(abs(statement.net_fen)),
                    "fee_sign": _sign(statement.fee_fen),
                    "fee": str(abs(statement.fee_fen)),
                }
            )
        )
        return "".join(line + "\r\n" for line in lines).encode("ascii")

    def parse(self, data: bytes, *, day: date, merchant_id: str) -> Statement:
        try:
            lines = data.decode("ascii").splitlines()
        except UnicodeDecodeError:
            raise StatementFormatError(CHANNEL, "not ASCII") from None
        if len(lines) < 2 or not lines[0].startswith("H") or not lines[-1].startswith("T"):
            raise StatementFormatError(CHANNEL, "expected a header (H) and a trailer (T) record")
        header = HEADER.parse(lines[0], 1)
        if header["merchant"] != merchant_id or header["settle_date"] != f"{day:%Y%m%d}":
            raise StatementFormatError(CHANNEL, f"not merchant {merchant_id} on {day:%Y%m%d}", 1)
        entries = [_detail(line, number) for number, line in enumerate(lines[1:-1], start=2)]
        trailer = TRAILER.parse(lines[-1], len(lines))
        statement = Statement(CHANNEL, merchant_id, day, tuple(entries))
        net = int(trailer["net"]) * (1 if trailer["net_sign"] == "C" else -1)
        fee = int(trailer["fee"]) * (-1 if trailer["fee_sign"] == "C" else 1)
        if (int(trailer["count"]), net, fee) != (
            len(entries),
            statement.net_fen,
            statement.fee_fen,
        ):
            raise StatementFormatError(
                CHANNEL, "the trailer's count, net or fee disagrees with the records", len(lines)
            )
        return statement


def _detail(line: str, number: int) -> Entry:
    values = DETAIL.parse(line, number)
    kind = _KINDS.get((values["mti"], values["processing_code"]))
    if values["type"] != "D" or kind is None:
        raise StatementFormatError(CHANNEL, "not a detail record of a sale, void or refund", number)
    if values["fee_sign"] not in ("C", "D") or values["reversed"] not in ("0", "1"):
        raise StatementFormatError(CHANNEL, "fee sign C/D, reversal flag 0/1", number)
    try:
        at = datetime.strptime(values["time"], "%Y%m%d%H%M%S").isoformat()
    except ValueError:
        raise StatementFormatError(CHANNEL, f"time {values['time']!r}", number) from None
    fee = int(values["fee"])
    return Entry(
        channel=CHANNEL,
        kind=kind,
        ref=values["rrn"],
        order=values["rrn"] if kind == PAYMENT else values["original_rrn"],
        amount_fen=int(values["amount"]),
        at=at,
        reversed=values["reversed"] == "1",
        transaction_id=values["rrn"],
        terminal_id=values["terminal"],
        masked_pan=values["pan"],
        batch_no=values["batch"],
        channel_fee_fen=-fee if values["fee_sign"] == "C" else fee,
    )
