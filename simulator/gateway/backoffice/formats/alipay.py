"""Alipay's trade bill (业务明细), as the merchant downloads it.

Alipay serves it GBK-encoded (a zip of this file and a summary, 业务明细(汇总));
possim writes and reads the detail file alone, in GBK, as served: ``#`` comment
lines naming the account and the period, the column header, one row per
payment (业务类型 交易) or refund (退款) with every value followed by a tab
(Alipay's own padding), then the end marker and the counts (交易合计/退款合计).
Amounts are yuan with two decimals; 商家实收 is negative on a refund; the
service fee (服务费) is negative when charged and positive when a refund
returns it. A payment reversed the same day says 交易撤销 in 备注.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

from simulator.gateway.backoffice.entries import PAYMENT, REFUND, Entry
from simulator.gateway.backoffice.errors import StatementFormatError
from simulator.gateway.backoffice.statement import Statement
from simulator.wire.money import format_yuan, parse_signed_yuan

CHANNEL = "alipay"
ENCODING = "gbk"
TITLE = "#支付宝业务明细查询"
BEGIN = (
    "#-----------------------------------------业务明细列表----------------------------------------"
)
END = (
    "#-----------------------------------------业务明细列表结束------------------------------------"
)
HEADER = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
]
REVOKED_NOTE = "交易撤销"
_COUNTS = re.compile(r"^#交易合计：(\d+)笔，退款合计：(\d+)笔$")
_ACCOUNT = re.compile(r"^#账号：\[(.*)\]$")
_PERIOD = re.compile(r"^#起始日期：\[(\d{4})年(\d{2})月(\d{2})日 00:00:00\]")
ZERO = "0.00"


def _cn_day(day: date) -> str:
    return f"{day.year:04d}年{day.month:02d}月{day.day:02d}日"


def _time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")


class AlipayBill:
    channel = CHANNEL
    media_type = "text/csv; charset=GBK"

    def filename(self, merchant_id: str, day: date) -> str:
        return f"{merchant_id}_{day:%Y%m%d}_业务明细.csv"

    def render(self, statement: Statement) -> bytes:
        day = statement.day
        lines = [
            TITLE,
            f"#账号：[{statement.merchant_id}]",
            f"#起始日期：[{_cn_day(day)} 00:00:00]   "
            f"终止日期：[{_cn_day(day + timedelta(days=1))} 00:00:00]",
            BEGIN,
            ",".join(HEADER),
        ]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for e in statement.entries:
            paid = e.kind == PAYMENT
            row = [
                e.transaction_id,
                e.order,
                "交易" if paid else "退款",
                "",
                _time(e.at),
                _time(e.at),
                "",
                "",
                "",
                e.terminal_id,
                "",
                format_yuan(e.amount_fen),
                format_yuan(e.amount_fen if paid else -e.amount_fen),
                ZERO,
                ZERO,
                ZERO,
                ZERO,
                ZERO,
                "",
                ZERO,
                ZERO,
                "" if paid else e.ref,
                format_yuan(-e.channel_fee_fen),
                ZERO,
                REVOKED_NOTE if e.reversed else "",
            ]
            writer.writerow([field + "\t" for field in row])
        payments = sum(1 for e in statement.entries if e.kind == PAYMENT)
        tail = [
            END,
            f"#交易合计：{payments}笔，退款合计：{len(statement.entries) - payments}笔",
            f"#导出时间：[{_cn_day(day + timedelta(days=1))} 09:00:00]",
        ]
        text = "\r\n".join(lines) + "\r\n" + out.getvalue() + "\r\n".join(tail) + "\r\n"
        return text.encode(ENCODING)

    def parse(self, data: bytes, *, day: date, merchant_id: str) -> Statement:
        try:
            text = data.decode(ENCODING)
        except UnicodeDecodeError as exc:
            raise StatementFormatError(CHANNEL, f"not GBK ({exc.reason})") from None
        lines = text.splitlines()
        if len(lines) < 8 or lines[0] != TITLE:
            raise StatementFormatError(CHANNEL, f"expected {TITLE} and its header lines", 1)
        account = _ACCOUNT.match(lines[1])
        if account is None or account.group(1) != merchant_id:
            raise StatementFormatError(CHANNEL, f"#账号 is not merchant {merchant_id}", 2)
        period = _PERIOD.match(lines[2])
        if period is None or date(*(int(g) for g in period.groups())) != day:
            raise StatementFormatError(CHANNEL, f"#起始日期 is not {day}", 3)
        if lines[3] != BEGIN or lines[4].split(",") != HEADER:
            raise StatementFormatError(CHANNEL, "expected the list marker and the column header", 4)
        try:
            end = lines.index(END)
        except ValueError:
            raise StatementFormatError(CHANNEL, "no end marker (业务明细列表结束)") from None
        entries = []
        for index, row in enumerate(csv.reader(lines[5:end]), start=6):
            if len(row) != len(HEADER):
                raise StatementFormatError(
                    CHANNEL, f"expected {len(HEADER)} fields, got {len(row)}", index
                )
            entries.append(_entry(dict(zip(HEADER, (f.strip() for f in row), strict=True)), index))
        counts = _COUNTS.match(lines[end + 1]) if end + 1 < len(lines) else None
        payments = sum(1 for e in entries if e.kind == PAYMENT)
        if counts is None or (int(counts.group(1)), int(counts.group(2))) != (
            payments,
            len(entries) - payments,
        ):
            raise StatementFormatError(
                CHANNEL, f"交易合计/退款合计 do not count the {len(entries)} rows", end + 2
            )
        for entry in entries:
            if entry.at[:10] != day.isoformat():
                raise StatementFormatError(CHANNEL, f"完成时间 {entry.at} is not on {day}")
        return Statement(CHANNEL, merchant_id, day, tuple(entries))


def _amount(record: dict[str, str], name: str, line: int) -> int:
    try:
        return parse_signed_yuan(record[name])
    except ValueError as exc:
        raise StatementFormatError(CHANNEL, f"{name}: {exc}", line) from None


def _entry(record: dict[str, str], line: int) -> Entry:
    try:
        at = datetime.strptime(record["完成时间"], "%Y-%m-%d %H:%M:%S").isoformat()
    except ValueError:
        raise StatementFormatError(CHANNEL, f"完成时间 {record['完成时间']!r}", line) from None
    kind = {"交易": PAYMENT, "退款": REFUND}.get(record["业务类型"])
    if kind is None:
        raise StatementFormatError(CHANNEL, f"业务类型 {record['业务类型']!r}", line)
    received = _amount(record, "商家实收（元）", line)
    return Entry(
        channel=CHANNEL,
        kind=kind,
        ref=record["商户订单号"] if kind == PAYMENT else record["退款批次号/请求号"],
        order=record["商户订单号"],
        amount_fen=abs(received),
        at=at,
        reversed=record["备注"] == REVOKED_NOTE,
        transaction_id=record["支付宝交易号"],
        terminal_id=record["终端号"],
        channel_fee_fen=-_amount(record, "服务费（元）", line),
    )
