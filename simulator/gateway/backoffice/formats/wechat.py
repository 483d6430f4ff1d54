"""WeChat Pay's trade bill (``downloadbill``, bill_type ALL), as WeChat writes it.

UTF-8 text, comma-separated: a header row of column names; one row per
payment (交易状态 SUCCESS, or REVOKED for a payment reversed the same day) and
per refund (REFUND), every field prefixed with a backtick (so spreadsheets do
not turn long ids into numbers); then the summary header (总交易单数 ...) and
its one row, backticked too. Amounts are yuan with two decimals; the fee
(手续费) is negative on a refund (the fee returned) and the rate (费率) is
shown as a percent.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import attrs

from simulator.gateway.backoffice.entries import PAYMENT, REFUND, Entry
from simulator.gateway.backoffice.errors import StatementFormatError
from simulator.gateway.backoffice.statement import Statement
from simulator.wire.money import format_yuan, parse_rate, parse_signed_yuan, show_rate

CHANNEL = "wechat"
APPID = "wxp0551m0000000001"  # the platform's (simulated) app id
HEADER = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
SUMMARY_HEADER = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
_TRADE_TYPES = {"micropay": "MICROPAY", "precreate": "NATIVE"}
_METHODS = {v: k for k, v in _TRADE_TYPES.items()}
ZERO = "0.00"


def _time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")


def _iso(text: str, line: int) -> str:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").isoformat()
    except ValueError:
        raise StatementFormatError(CHANNEL, f"交易时间 {text!r} is not a time", line) from None


class WechatBill:
    channel = CHANNEL
    media_type = "text/csv; charset=utf-8"

    def filename(self, merchant_id: str, day: date) -> str:
        return f"wechat_{merchant_id}_{day:%Y%m%d}_ALL.csv"

    def render(self, statement: Statement) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        rate = "" if statement.cost_rate is None else show_rate(statement.cost_rate)
        settle = refunded = fees = orders = 0
        for e in statement.entries:
            paid = e.kind == PAYMENT
            back = e.amount_fen if (not paid or e.reversed) else 0
            state = ("REVOKED" if e.reversed else "SUCCESS") if paid else "REFUND"
            row = [
                _time(e.at),
                APPID,
                statement.merchant_id,
                "0",
                e.terminal_id,
                e.transaction_id if paid else "",
                e.order,
                "",
                _TRADE_TYPES.get(e.method, "MICROPAY"),
                state,
                "OTHERS",
                "CNY",
                format_yuan(e.amount_fen) if paid else ZERO,
                ZERO,
                "" if paid else e.transaction_id,
                "" if paid else e.ref,
                format_yuan(back),
                ZERO,
                "" if paid else "ORIGINAL",
                "" if paid else "SUCCESS",
                "",
                "",
                format_yuan(e.channel_fee_fen),
                rate,
                format_yuan(e.amount_fen) if paid else ZERO,
                format_yuan(back),
                "",
            ]
            writer.writerow(["`" + field for field in row])
            settle += e.amount_fen if paid else 0
            orders += e.amount_fen if paid else 0
            refunded += back
            fees += e.channel_fee_fen
        writer.writerow(SUMMARY_HEADER)
        summary = [
            str(len(statement.entries)),
            format_yuan(settle),
            format_yuan(refunded),
            ZERO,
            format_yuan(fees),
            format_yuan(orders),
            format_yuan(refunded),
        ]
        writer.writerow(["`" + field for field in summary])
        return out.getvalue().encode("utf-8")

    def parse(self, data: bytes, *, day: date, merchant_id: str) -> Statement:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise StatementFormatError(CHANNEL, f"not UTF-8 ({exc.reason})") from None
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or rows[0] != HEADER:
            raise StatementFormatError(CHANNEL, "the first row is not the bill's header", 1)
        entries: list[Entry] = []
        rate_text = ""
        for index, row in enumerate(rows[1:], start=2):
            if row == SUMMARY_HEADER:
                return self._finish(rows, index, entries, day, merchant_id, rate_text)
            fields = _unquote(row, len(HEADER), index)
            record = dict(zip(HEADER, fields, strict=True))
            if record["商户号"] != merchant_id:
                raise StatementFormatError(
                    CHANNEL, f"商户号 {record['商户号']!r} is not merchant {merchant_id}", index
                )
            rate_text = rate_text or record["费率"]
            entry = _entry(record, index)
            if entry.at[:10] != day.isoformat():
                raise StatementFormatError(CHANNEL, f"交易时间 {entry.at} is not on {day}", index)
            entries.append(entry)
        raise StatementFormatError(CHANNEL, "no summary (总交易单数 ...) at the end")

    def _finish(
        self,
        rows: list[list[str]],
        index: int,
        entries: list[Entry],
        day: date,
        merchant_id: str,
        rate_text: str,
    ) -> Statement:
        if len(rows) != index + 1:
            raise StatementFormatError(CHANNEL, "expected one summary row after its header", index)
        summary = dict(
            zip(SUMMARY_HEADER, _unquote(rows[index], len(SUMMARY_HEADER), index + 1), strict=True)
        )
        fees = sum(e.channel_fee_fen for e in entries)
        settle = sum(e.amount_fen for e in entries if e.kind == PAYMENT)
        refunded = sum(e.amount_fen for e in entries if e.kind != PAYMENT or e.reversed)
        checks = {
            "总交易单数": (summary["总交易单数"], str(len(entries))),
            "应结订单总金额": (summary["应结订单总金额"], format_yuan(settle)),
            "退款总金额": (summary["退款总金额"], format_yuan(refunded)),
            "手续费总金额": (summary["手续费总金额"], format_yuan(fees)),
        }
        for name, (stated, counted) in checks.items():
            if stated != counted:
                raise StatementFormatError(
                    CHANNEL, f"summary {name} is {stated}, the rows add up to {counted}", index + 1
                )
        try:
            rate = parse_rate(rate_text) if rate_text else None
        except ValueError as exc:
            raise StatementFormatError(CHANNEL, f"费率: {exc}") from None
        return Statement(CHANNEL, merchant_id, day, tuple(entries), rate)


def _unquote(row: list[str], width: int, line: int) -> list[str]:
    if len(row) != width:
        raise StatementFormatError(CHANNEL, f"expected {width} fields, got {len(row)}", line)
    if not all(field.startswith("`") for field in row):
        raise StatementFormatError(CHANNEL, "every field must start with a backtick", line)
    return [field[1:] for field in row]


def _amount(record: dict[str, str], name: str, line: int) -> int:
    try:
        return parse_signed_yuan(record[name])
    except ValueError as exc:
        raise StatementFormatError(CHANNEL, f"{name}: {exc}", line) from None


def _entry(record: dict[str, str], line: int) -> Entry:
    state = record["交易状态"]
    base = Entry(
        channel=CHANNEL,
        kind=PAYMENT,
        ref=record["商户订单号"],
        order=record["商户订单号"],
        amount_fen=0,
        at=_iso(record["交易时间"], line),
        terminal_id=record["设备号"],
        method=_METHODS.get(record["交易类型"], ""),
        channel_fee_fen=_amount(record, "手续费", line),
    )
    if state in ("SUCCESS", "REVOKED"):
        return attrs.evolve(
            base,
            amount_fen=_amount(record, "订单金额", line),
            reversed=state == "REVOKED",
            transaction_id=record["微信订单号"],
        )
    if state == "REFUND":
        return attrs.evolve(
            base,
            kind=REFUND,
            ref=record["商户退款单号"],
            amount_fen=_amount(record, "退款金额", line),
            transaction_id=record["微信退款单号"],
        )
    raise StatementFormatError(
        CHANNEL, f"交易状态 {state!r} is not SUCCESS, REVOKED or REFUND", line
    )
