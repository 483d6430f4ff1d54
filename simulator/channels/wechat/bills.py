"""The trade bill (对账单) of one day, as ``downloadbill`` and ``tradebill`` give it.

Format (下载交易账单, pay.weixin.qq.com ... chapter=9_6): a header line, one line per
payment or refund of the day with every field prefixed by a back-quote, then the
totals' header and one totals line. Amounts in yuan with two decimals.
``bill_type`` ALL: every line; SUCCESS: the payments; REFUND: the refunds; REVOKED:
the payments reversed (v2 only; v3 refuses it). Fees
are not simulated (0.00, rate 0.00%).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from simulator.channels.wechat.trades import PAID, Trade

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
TOTALS_HEADER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
BILL_TYPES = ("ALL", "SUCCESS", "REFUND", "REVOKED")


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def trade_bill(trades: Iterable[Trade], day: date, bill_type: str = "ALL") -> str | None:
    """The day's bill, or None when it has no line (WeChat: "No Bill Exist")."""
    lines: list[list[str]] = []
    paid_total = refund_total = 0
    for trade in trades:
        paid_today = trade.paid_at is not None and trade.paid_at.date() == day
        state = "REVOKED" if trade.state == "REVOKED" else "SUCCESS"
        wanted = bill_type == "ALL" or bill_type == state
        if paid_today and wanted and trade.state in (*PAID, "REVOKED"):
            assert trade.paid_at is not None
            lines.append(_line(trade, trade.paid_at.strftime("%Y-%m-%d %H:%M:%S"), state))
            paid_total += trade.amount_fen
        if bill_type in ("ALL", "REFUND"):
            for refund in trade.refunds:
                if refund.created_at.date() == day:
                    line = _line(trade, refund.created_at.strftime("%Y-%m-%d %H:%M:%S"), "REFUND")
                    line[14:20] = [
                        refund.refund_id,
                        refund.out_refund_no,
                        yuan(refund.amount_fen),
                        "0.00",
                        "ORIGINAL",
                        refund.status,
                    ]
                    line[25] = yuan(refund.amount_fen)
                    lines.append(line)
                    refund_total += refund.amount_fen
    if not lines:
        return None
    body = [HEADER, *("`" + ",`".join(line) for line in lines), TOTALS_HEADER]
    totals = [str(len(lines)), yuan(paid_total), yuan(refund_total), "0.00", "0.00"]
    totals += [yuan(paid_total), yuan(refund_total)]
    body.append("`" + ",`".join(totals))
    return "\r\n".join(body) + "\r\n"


def _line(trade: Trade, when: str, state: str) -> list[str]:
    amount = yuan(trade.amount_fen)
    return [
        when,
        trade.appid,
        trade.mch_id,
        "0",
        "",
        trade.transaction_id,
        trade.out_trade_no,
        trade.openid,
        trade.trade_type,
        state,
        "OTHERS",
        "CNY",
        amount,
        "0.00",
        "0",
        "0",
        "0.00",
        "0.00",
        "",
        "",
        trade.description,
        trade.attach,
        "0.00000",
        "0.00%",
        amount,
        "0.00",
        "",
    ]
