"""An order as WeChat's answers and notifies show it: v2 fields, v3 JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.channels.wechat.trades import PAID, Refund, Trade

STATE_TEXT = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "未支付",
    "CLOSED": "已关闭",
    "REVOKED": "已撤销（付款码支付）",
    "USERPAYING": "用户支付中（付款码支付）",
    "PAYERROR": "支付失败",
}


def v2_time(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def paid_fields(trade: Trade) -> dict[str, str]:
    """v2: a paid order's fields (micropay, orderquery, the payment notify)."""
    fields = {
        "openid": trade.openid,
        "is_subscribe": "N",
        "trade_type": trade.trade_type,
        "bank_type": "OTHERS",
        "fee_type": "CNY",
        "total_fee": str(trade.amount_fen),
        "cash_fee_type": "CNY",
        "cash_fee": str(trade.amount_fen),
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "attach": trade.attach,
    }
    if trade.paid_at is not None:
        fields["time_end"] = v2_time(trade.paid_at)
    return fields


def transaction(trade: Trade) -> dict[str, Any]:
    """v3: an order as the query and the payment notify's resource give it."""
    view: dict[str, Any] = {
        "appid": trade.appid,
        "mchid": trade.mch_id,
        "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type,
        "trade_state": trade.state,
        "trade_state_desc": STATE_TEXT.get(trade.state, trade.state),
        "attach": trade.attach,
        "amount": {"total": trade.amount_fen, "currency": "CNY"},
    }
    if trade.state in PAID:
        assert trade.paid_at is not None
        view |= {
            "transaction_id": trade.transaction_id,
            "bank_type": "OTHERS",
            "success_time": rfc3339(trade.paid_at),
            "payer": {"openid": trade.openid},
        }
        view["amount"] |= {"payer_total": trade.amount_fen, "payer_currency": "CNY"}
    return view


def refund_fields(trade: Trade, refund: Refund) -> dict[str, str]:
    """v2: a refund as the refund notify's ``req_info`` holds it."""
    return {
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "total_fee": str(trade.amount_fen),
        "refund_fee": str(refund.amount_fen),
        "settlement_refund_fee": str(refund.amount_fen),
        "refund_status": refund.status,
        "success_time": refund.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "refund_recv_accout": "支付用户的零钱",
        "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
        "refund_request_source": "API",
    }


def refund_view(trade: Trade, refund: Refund) -> dict[str, Any]:
    """v3: a refund as the refund calls and the refund notify's resource give it."""
    return {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": rfc3339(refund.created_at),
        "create_time": rfc3339(refund.created_at),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": trade.amount_fen,
            "refund": refund.amount_fen,
            "payer_total": trade.amount_fen,
            "payer_refund": refund.amount_fen,
            "settlement_refund": refund.amount_fen,
            "settlement_total": trade.amount_fen,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }
