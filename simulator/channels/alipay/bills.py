"""The trade bill behind alipay.data.dataservice.bill.downloadurl.query.

Alipay's bill is a zip of GBK CSV files (opendocs.alipay.com/open/194/105203, "下载对账单"):
``<pid>_<yyyyMMdd>_业务明细.csv`` (one line per payment and per refund, between
``#``-commented header and footer lines) and ``..._业务明细(汇总).csv``. possim
writes the detail columns below and a one-line summary; the columns a
face-to-face trade leaves empty (store, operator, coupons ...) are empty.
"""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING

from simulator.wire.money import format_yuan

if TYPE_CHECKING:
    from simulator.channels.alipay.channel import AlipayChannel

COLUMNS = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,"
    "券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)


def _row(*cells: str) -> str:
    padded = list(cells) + [""] * (COLUMNS.count(",") + 1 - len(cells))
    return ",".join(c.replace(",", " ") for c in padded)


def bill_lines(ch: AlipayChannel, app_id: str, bill_date: str) -> tuple[list[str], int, int]:
    """Detail lines of the day (or month) and the counts of payments and refunds."""
    lines: list[str] = []
    payments = refunds = 0
    for trade in ch.book.trades():
        if trade.app_id != app_id or trade.paid_at is None:
            continue
        paid = ch.time_text(trade.paid_at)
        if paid.startswith(bill_date):
            payments += 1
            amount = format_yuan(trade.total_fen)
            lines.append(
                _row(trade.trade_no, trade.out_trade_no, "交易", trade.subject,
                     ch.time_text(trade.created), paid, "", "", "", "",
                     trade.buyer_logon_id, amount, amount)
            )  # fmt: skip
        for refund in trade.refunds.values():
            at = ch.time_text(refund.at)
            if at.startswith(bill_date):
                refunds += 1
                minus = format_yuan(-refund.amount_fen)
                lines.append(
                    _row(trade.trade_no, trade.out_trade_no, "退款", trade.subject,
                         ch.time_text(trade.created), at, "", "", "", "",
                         trade.buyer_logon_id, minus, minus, "", "", "", "", "", "", "", "",
                         refund.out_request_no)
                )  # fmt: skip
    return lines, payments, refunds


def bill_zip(ch: AlipayChannel, app_id: str, bill_type: str, bill_date: str) -> tuple[str, bytes]:
    """The zip's file name and bytes."""
    day = bill_date.replace("-", "")
    pid = ch.config.seller_id
    lines, payments, refunds = bill_lines(ch, app_id, bill_date)
    detail = "\r\n".join(
        [
            "#支付宝业务明细查询",
            f"#账号：[{pid}0156]",
            f"#起始日期：[{bill_date}]   终止日期：[{bill_date}]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            COLUMNS,
            *lines,
            "#-----------------------------------------业务明细列表结束------------------------------------",
            f"#交易合计：{payments}笔，退款合计：{refunds}笔",
            f"#导出时间：[{ch.time_text(ch.clock.now())}]",
            "",
        ]
    )
    summary = (
        f"#支付宝业务汇总查询\r\n#账号：[{pid}0156]\r\n"
        f"交易笔数,{payments}\r\n退款笔数,{refunds}\r\n"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{pid}0156_{day}_业务明细.csv", detail.encode("gbk"))
        archive.writestr(f"{pid}0156_{day}_业务明细(汇总).csv", summary.encode("gbk"))
    return f"{pid}0156_{day}.csv.zip", out.getvalue()


__all__ = ["bill_zip"]
