"""The trade methods behind gateway.do: each takes the app and its ``biz_content`` and
returns the ``*_response`` node, or raises :class:`Refused` (nothing changed).

Field names and codes follow the API pages on opendocs.alipay.com: alipay.trade.pay
(open/194/106039), .precreate (open/194/106039 "扫码支付"), .query, .cancel, .close,
.refund, .fastpay.refund.query, alipay.data.dataservice.bill.downloadurl.query.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from simulator.channels.alipay import answers
from simulator.channels.alipay.answers import Refused, business, invalid_parameter, ok, waiting
from simulator.channels.alipay.trades import Refund, Trade, TradeStatus, buyer_of
from simulator.clock import CHINA_STANDARD_TIME
from simulator.wire.money import format_yuan

if TYPE_CHECKING:
    from simulator.channels.alipay.channel import AlipayChannel

# 支付宝付款码: 25-30 开头的 16-24 位数字 (the alipay.trade.pay page, auth_code).
AUTH_CODE = re.compile(r"(2[5-9]|30)\d{14,22}")
OUT_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")
AMOUNT = re.compile(r"(0|[1-9]\d{0,8})(\.\d{1,2})?")
MAX_FEN = 100_000_000_00  # 100000000.00 yuan, the documented total_amount range
MAX_REFUNDS_PER_TRADE = 50
SCENES = ("bar_code", "wave_code")
# timeout_express: "取值范围：1m～15d。m-分钟，h-小时，d-天，1c-当天 ... 该参数数值不接受小数点".
TIMEOUT_EXPRESS = re.compile(r"([1-9]\d{0,4})([mhd])|1c")
DEFAULT_TIMEOUT_SECONDS = 15 * 86_400.0  # possim's default: the longest Alipay allows

Method = Callable[["AlipayChannel", str, Mapping[str, Any]], dict[str, Any]]


def _text(biz: Mapping[str, Any], name: str, *, required: bool = True, limit: int = 256) -> str:
    value = biz.get(name)
    if value is None or value == "":
        if required:
            raise invalid_parameter(f"{name} is required")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise invalid_parameter(f"{name} must be a string")
    text = str(value)
    if len(text) > limit:
        raise invalid_parameter(f"{name} is longer than {limit}")
    return text


def _out_no(biz: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    text = _text(biz, name, required=required, limit=64)
    if text and not OUT_NO.fullmatch(text):
        raise invalid_parameter(f"{name} may hold letters, digits, '_' and '-' only")
    return text


def _amount(biz: Mapping[str, Any], name: str) -> int:
    value = biz.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not AMOUNT.fullmatch(value):
        raise invalid_parameter(f"{name} must be yuan with at most 2 decimals, like 12.34")
    whole, _, cents = value.partition(".")
    fen = int(whole) * 100 + int((cents + "00")[:2])
    if not 1 <= fen <= MAX_FEN:
        raise invalid_parameter(f"{name} must be 0.01 to 100000000.00")
    return fen


def _which(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> Trade:
    trade_no = _text(biz, "trade_no", required=False, limit=64)
    out_trade_no = _out_no(biz, "out_trade_no", required=False)
    if not trade_no and not out_trade_no:
        raise invalid_parameter("out_trade_no or trade_no is required")
    trade = ch.book.find(app_id, out_trade_no, trade_no)
    if trade is None or not trade.exists:
        raise business(*answers.TRADE_NOT_EXIST)
    return trade


def _timeout_seconds(ch: AlipayChannel, biz: Mapping[str, Any], name: str) -> float:
    """How long an unpaid trade stays open (``1c``: until midnight, China time)."""
    text = _text(biz, name, required=False, limit=8)
    if not text:
        return DEFAULT_TIMEOUT_SECONDS
    found = TIMEOUT_EXPRESS.fullmatch(text)
    if found is None:
        raise invalid_parameter(f"{name} must be like 5m, 2h, 15d or 1c")
    if text == "1c":
        now = ch.clock.now().astimezone(CHINA_STANDARD_TIME)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return (midnight - now).total_seconds()
    seconds = int(found.group(1)) * {"m": 60, "h": 3600, "d": 86_400}[found.group(2)]
    if seconds > DEFAULT_TIMEOUT_SECONDS:
        raise invalid_parameter(f"{name} must be at most 15d")
    return float(seconds)


def paid_fields(ch: AlipayChannel, trade: Trade) -> dict[str, Any]:
    amount = format_yuan(trade.total_fen)
    fields: dict[str, Any] = {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": trade.buyer_logon_id,
        "total_amount": amount,
    }
    if trade.paid_at is not None:
        fields.update(
            receipt_amount=amount,
            buyer_pay_amount=amount,
            point_amount="0.00",
            invoice_amount=amount,
            fund_bill_list=[{"fund_channel": "ALIPAYACCOUNT", "amount": amount}],
            buyer_user_id=trade.buyer_user_id,
        )
    return fields


def pay(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    out_trade_no = _out_no(biz, "out_trade_no")
    scene = _text(biz, "scene", limit=32)
    if scene not in SCENES:
        raise invalid_parameter(f"scene must be one of {', '.join(SCENES)}")
    auth_code = _text(biz, "auth_code", limit=32)
    subject = _text(biz, "subject")
    total = _amount(biz, "total_amount")
    open_for = _timeout_seconds(ch, biz, "timeout_express")
    existing = ch.book.find(app_id, out_trade_no, None)
    if existing is not None:
        return _pay_again(ch, existing, total)
    if ch.cancelled_unknown(app_id, out_trade_no):
        raise business(*answers.TRADE_HAS_CLOSE)
    if not AUTH_CODE.fullmatch(auth_code):
        raise business(*answers.AUTH_CODE_INVALID)
    fault = ch.faults.take(
        "alipay.trade.pay", ("expired_code", "balance_not_enough", "user_paying")
    )
    if fault is not None and fault.kind == "expired_code":
        raise business(*answers.AUTH_CODE_INVALID)
    if fault is not None and fault.kind == "balance_not_enough":
        raise business(*answers.BALANCE_NOT_ENOUGH)
    user_id, logon = buyer_of(auth_code)
    trade = Trade(
        app_id=app_id,
        out_trade_no=out_trade_no,
        trade_no=ch.next_trade_no(),
        total_fen=total,
        subject=subject,
        status=TradeStatus.WAIT_BUYER_PAY,
        created=ch.clock.now(),
        scene=scene,
        notify_url=ch.current_notify_url,
        buyer_user_id=user_id,
        buyer_logon_id=logon,
    )
    ch.book.add(trade)
    confirm_after = None
    if fault is not None:  # user_paying
        confirm_after = None if fault.then == "never" else fault.seconds
    elif total > ch.config.password_free_limit_fen:
        confirm_after = ch.config.buyer_confirm_seconds
    else:
        ch.mark_paid(trade)
        return ok(**paid_fields(ch, trade), gmt_payment=ch.time_text(trade.paid_at))
    if confirm_after is not None:
        trade.pay_due = ch.clock.monotonic() + confirm_after
    trade.close_due = ch.clock.monotonic() + open_for
    return waiting(**paid_fields(ch, trade))


def _pay_again(ch: AlipayChannel, trade: Trade, total: int) -> dict[str, Any]:
    """alipay.trade.pay with an out_trade_no Alipay already knows: no second payment."""
    if trade.total_fen != total or trade.scene not in SCENES:
        raise business(*answers.CONTEXT_INCONSISTENT)
    if trade.status in (TradeStatus.TRADE_SUCCESS, TradeStatus.TRADE_FINISHED):
        raise business(*answers.TRADE_HAS_SUCCESS)
    if trade.status == TradeStatus.TRADE_CLOSED:
        raise business(*answers.TRADE_HAS_CLOSE)
    return waiting(**paid_fields(ch, trade))


def precreate(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    out_trade_no = _out_no(biz, "out_trade_no")
    total = _amount(biz, "total_amount")
    subject = _text(biz, "subject")
    open_for = _timeout_seconds(ch, biz, "timeout_express")
    existing = ch.book.find(app_id, out_trade_no, None)
    if existing is not None:
        if existing.scene != "precreate" or existing.total_fen != total:
            raise business(*answers.CONTEXT_INCONSISTENT)
        if existing.status != TradeStatus.WAIT_BUYER_PAY:
            raise business(*answers.TRADE_STATUS_ERROR)
        return ok(out_trade_no=out_trade_no, qr_code=existing.qr_code)
    trade_no = ch.next_trade_no()
    trade = Trade(
        app_id=app_id,
        out_trade_no=out_trade_no,
        trade_no=trade_no,
        total_fen=total,
        subject=subject,
        status=TradeStatus.WAIT_BUYER_PAY,
        created=ch.clock.now(),
        scene="precreate",
        notify_url=ch.current_notify_url,
        qr_code=f"https://qr.alipay.com/bax0{hashlib.sha256(trade_no.encode()).hexdigest()[:20]}",
        scanned=False,
        close_due=ch.clock.monotonic() + open_for,
    )
    ch.book.add(trade)
    return ok(out_trade_no=out_trade_no, qr_code=trade.qr_code)


def query(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    trade = _which(ch, app_id, biz)
    fields = paid_fields(ch, trade)
    fields["trade_status"] = trade.status.value
    if trade.paid_at is not None:
        fields["send_pay_date"] = ch.time_text(trade.paid_at)
    return ok(**fields)


def cancel(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    """Closes an unpaid trade, refunds a paid one ("撤销"); an unknown one can never be paid."""
    trade_no = _text(biz, "trade_no", required=False, limit=64)
    out_trade_no = _out_no(biz, "out_trade_no", required=False)
    if not trade_no and not out_trade_no:
        raise invalid_parameter("out_trade_no or trade_no is required")
    trade = ch.book.find(app_id, out_trade_no, trade_no)
    if trade is None:
        if not out_trade_no:
            raise business(*answers.TRADE_NOT_EXIST)
        ch.cancel_unknown(app_id, out_trade_no)
        return ok(out_trade_no=out_trade_no, retry_flag="N", action="close")
    if trade.status == TradeStatus.TRADE_CLOSED:
        return _cancelled(trade, "close")
    if trade.status == TradeStatus.WAIT_BUYER_PAY:
        ch.mark_closed(trade)
        action = "close"
    else:
        remaining = trade.total_fen - trade.refunded_fen
        trade.refunds["cancel"] = Refund("cancel", remaining, ch.clock.now(), "cancel")
        ch.mark_closed(trade)
        action = "refund"
    return _cancelled(trade, action)


def _cancelled(trade: Trade, action: str) -> dict[str, Any]:
    return ok(
        trade_no=trade.trade_no, out_trade_no=trade.out_trade_no, retry_flag="N", action=action
    )


def close(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    trade = ch.book.find(
        app_id,
        _out_no(biz, "out_trade_no", required=False),
        _text(biz, "trade_no", required=False, limit=64),
    )
    if trade is None and not biz.get("out_trade_no") and not biz.get("trade_no"):
        raise invalid_parameter("out_trade_no or trade_no is required")
    if trade is None or not trade.exists:  # a precreated code nobody scanned: no trade yet
        raise business(*answers.TRADE_NOT_EXIST)
    if trade.status != TradeStatus.WAIT_BUYER_PAY:
        raise business(*answers.TRADE_STATUS_ERROR)
    ch.mark_closed(trade)
    return ok(trade_no=trade.trade_no, out_trade_no=trade.out_trade_no)


def refund(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    amount = _amount(biz, "refund_amount")
    request_no = _out_no(biz, "out_request_no", required=False)
    reason = _text(biz, "refund_reason", required=False)
    trade = _which(ch, app_id, biz)
    request_no = request_no or trade.out_trade_no  # "如需部分退款，则此参数必传"
    done = trade.refunds.get(request_no)
    if done is not None:  # the same out_request_no again: answered, never refunded twice
        if done.amount_fen != amount:
            raise business(*answers.CONTEXT_INCONSISTENT)
        return ok(**_refund_fields(ch, trade, done), fund_change="N")
    if trade.status != TradeStatus.TRADE_SUCCESS:
        raise business(*answers.TRADE_STATUS_ERROR)
    if trade.refunded_fen + amount > trade.total_fen:
        raise business(*answers.REFUND_AMT_EXCEEDED)
    if len(trade.refunds) >= MAX_REFUNDS_PER_TRADE:
        raise invalid_parameter(f"possim keeps at most {MAX_REFUNDS_PER_TRADE} refunds per trade")
    done = Refund(request_no, amount, ch.clock.now(), reason)
    trade.refunds[request_no] = done
    if trade.refunded_fen == trade.total_fen:
        ch.mark_closed(trade)
    ch.refunded(trade, done)
    return ok(**_refund_fields(ch, trade, done), fund_change="Y")


def _refund_fields(ch: AlipayChannel, trade: Trade, done: Refund) -> dict[str, Any]:
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": trade.buyer_logon_id,
        "refund_fee": format_yuan(trade.refunded_fen),
        "gmt_refund_pay": ch.time_text(done.at),
        "buyer_user_id": trade.buyer_user_id,
        "send_back_fee": format_yuan(done.amount_fen),
    }


def refund_query(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    request_no = _out_no(biz, "out_request_no")
    trade = _which(ch, app_id, biz)
    done = trade.refunds.get(request_no)
    if done is None:  # "如果没有查询到则代表未退款成功": a success answer with no refund in it
        return ok(trade_no=trade.trade_no, out_trade_no=trade.out_trade_no)
    return ok(
        trade_no=trade.trade_no,
        out_trade_no=trade.out_trade_no,
        out_request_no=request_no,
        total_amount=format_yuan(trade.total_fen),
        refund_amount=format_yuan(done.amount_fen),
        refund_status="REFUND_SUCCESS",
        gmt_refund_pay=ch.time_text(done.at),
    )


def bill_url(ch: AlipayChannel, app_id: str, biz: Mapping[str, Any]) -> dict[str, Any]:
    bill_type = _text(biz, "bill_type", limit=32)
    if bill_type not in ("trade", "signcustomer"):
        raise invalid_parameter("bill_type must be trade or signcustomer")
    bill_date = _text(biz, "bill_date", limit=10)
    if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", bill_date):
        raise invalid_parameter("bill_date must be yyyy-MM-dd or yyyy-MM")
    if bill_date >= ch.time_text(ch.clock.now())[: len(bill_date)]:
        raise business(*answers.BILL_NOT_EXIST)  # a day's bill exists from the next day on
    return ok(bill_download_url=ch.bill_download_url(app_id, bill_type, bill_date))


METHODS: dict[str, Method] = {
    "alipay.trade.pay": pay,
    "alipay.trade.precreate": precreate,
    "alipay.trade.query": query,
    "alipay.trade.cancel": cancel,
    "alipay.trade.close": close,
    "alipay.trade.refund": refund,
    "alipay.trade.fastpay.refund.query": refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": bill_url,
}


def parse_biz_content(text: str) -> dict[str, Any]:
    try:
        biz = json.loads(text)
    except (ValueError, RecursionError):
        raise invalid_parameter("biz_content is not JSON") from None
    if not isinstance(biz, dict):
        raise invalid_parameter("biz_content is not a JSON object")
    return biz


__all__ = ["METHODS", "Refused", "parse_biz_content"]
