"""WeChat Pay APIv2 (XML), as pay.weixin.qq.com/wiki/doc/api documents it.

Every call: a ``<xml>`` POST signed with the API key (:mod:`.v2wire`); an
answer with ``return_code`` (the call got through: SUCCESS/FAIL + ``return_msg``)
and, when it did, ``result_code`` (the business outcome: SUCCESS/FAIL +
``err_code``/``err_code_des``), signed with the request's ``sign_type``.

Refusals before any business (``return_code`` FAIL, nothing changes): a body that
is not the XML (``XML格式错误``), an unknown ``mch_id``/``appid``, a wrong
``sign`` (``签名错误``; 查询订单: "return_msg 返回信息，如非空，为错误原因 签名失败
参数格式校验错误").
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import date

from aiohttp import web

from simulator.channels.wechat import bills, notices, v2wire, views
from simulator.channels.wechat.core import WechatCore
from simulator.channels.wechat.trades import ERRORS, PAID, Outcome, Trade

Fields = dict[str, str]
Action = Callable[[WechatCore, Fields], "Fields | bytes"]
MAX_FEE_FEN = 10**10


class ReturnFail(Exception):
    """The call is refused as a whole: return_code FAIL with this return_msg."""


class ParamError(Exception):
    """A missing or malformed parameter: result_code FAIL with this err_code."""

    def __init__(self, err_code: str, message: str) -> None:
        super().__init__(message)
        self.err_code = err_code
        self.message = message


def routes(core: WechatCore) -> list[web.RouteDef]:
    """Every call, and again under ``/sandboxnew/`` (仿真测试系统: signed with the
    sandbox key that ``sandboxnew/pay/getsignkey`` hands out; wechatpy's ``sandbox=True``)."""
    return [
        *(
            web.post(f"{prefix}/{path}", functools.partial(_handle, core, api, action, key))
            for path, (api, action) in _CALLS.items()
            for prefix, key in (("", core.keys.api_key), ("/sandboxnew", sandbox_key(core)))
        ),
        web.post("/sandboxnew/pay/getsignkey", functools.partial(_getsignkey, core)),
    ]


def sandbox_key(core: WechatCore) -> str:
    """The sandbox's signing key: derived from the API key, as stable as it."""
    return hashlib.md5(f"possim-sandbox:{core.keys.api_key}".encode()).hexdigest()


async def _getsignkey(core: WechatCore, request: web.Request) -> web.StreamResponse:
    """获取仿真测试验签秘钥: a request signed (MD5) with the real API key gets the sandbox's."""
    try:
        fields = v2wire.parse(await request.read())
    except v2wire.XmlError:
        return _return_fail("XML格式错误")
    if fields.get("mch_id") != core.keys.mch_id:
        return _return_fail("mch_id参数错误")
    if not v2wire.sign_is_valid(fields, core.keys.api_key):
        return _return_fail("签名错误")
    reply = {"return_code": "SUCCESS", "return_msg": "ok", "mch_id": core.keys.mch_id}
    return _xml({**reply, "sandbox_signkey": sandbox_key(core)})


def _xml(fields: Fields) -> web.Response:
    return web.Response(body=v2wire.render(fields), content_type="text/xml", charset="utf-8")


def _return_fail(message: str) -> web.Response:
    return _xml({"return_code": "FAIL", "return_msg": message})


async def _handle(
    core: WechatCore, api: str, action: Action, key: str, request: web.Request
) -> web.StreamResponse:
    try:
        fields = v2wire.parse(await request.read())
    except v2wire.XmlError:
        return _return_fail("XML格式错误")
    if fields.get("mch_id") != core.keys.mch_id:
        return _return_fail("mch_id参数错误")  # no key to check a signature with
    if fields.get("appid") and fields["appid"] != core.keys.appid:
        return _return_fail("appid和mch_id不匹配")
    if not v2wire.sign_is_valid(fields, key):
        return _return_fail("签名错误")
    await core.maybe_slow(api)
    answer: Fields | bytes
    if core.faults.take("system_error", api) is not None:
        failed = _error("SYSTEMERROR")
        if api == "reverse":
            failed["recall"] = "Y"  # 撤销: "Y-需要，N-不需要，如果结果为需要，则需要继续调用撤销"
        answer = failed
    else:
        try:
            with core.clock.actor():  # time stands still while the order changes
                answer = action(core, fields)
        except ReturnFail as refusal:
            return _return_fail(str(refusal))
        except ParamError as error:
            answer = {
                "result_code": "FAIL",
                "err_code": error.err_code,
                "err_code_des": error.message,
            }
    if isinstance(answer, bytes):
        return web.Response(body=answer, content_type="text/plain", charset="utf-8")
    sign_type = fields.get("sign_type") or "MD5"
    reply = v2wire.signed(
        {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": core.keys.appid,
            "mch_id": core.keys.mch_id,
            **answer,
        },
        key,
        sign_type,
    )
    if core.faults.take("bad_signature", api) is not None:
        reply["sign"] = reply["sign"][::-1]
    return _xml(reply)


# -- parameters ------------------------------------------------------------------


def _need(fields: Fields, name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise ParamError("LACK_PARAMS", f"缺少参数{name}")
    return value


def _fen(fields: Fields, name: str) -> int:
    text = _need(fields, name)
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_FEE_FEN:
        raise ParamError("PARAM_ERROR", f"{name}参数格式错误")
    return int(text)


def _notify_url(fields: Fields) -> str:
    url = _need(fields, "notify_url")
    if not url.startswith(("http://", "https://")) or len(url) > 256:
        raise ParamError("PARAM_ERROR", "notify_url参数格式错误")
    return url


def _order_no(fields: Fields, name: str = "out_trade_no") -> str:
    value = _need(fields, name)
    if len(value) > 32:
        raise ParamError("PARAM_ERROR", f"{name}参数长度有误")
    return value


def _trade(core: WechatCore, fields: Fields) -> Trade | None:
    mch_id = core.keys.mch_id
    if fields.get("transaction_id"):
        return core.trades.by_transaction(mch_id, fields["transaction_id"])
    return core.trades.get(mch_id, _order_no(fields))


def _error(code: str) -> Fields:
    return {"result_code": "FAIL", "err_code": code, "err_code_des": ERRORS[code]}


def _outcome(outcome: Outcome, success: Callable[[Trade], Fields]) -> Fields:
    if outcome.error is not None:
        return _error(outcome.error)
    assert outcome.trade is not None
    return {"result_code": "SUCCESS", **success(outcome.trade)}


# -- the calls ---------------------------------------------------------------------


def _micropay(core: WechatCore, fields: Fields) -> Fields:
    refusal = None
    for kind, code in (("expired_code", "AUTHCODEEXPIRE"), ("not_enough", "NOTENOUGH")):
        if core.faults.take(kind, "micropay") is not None:
            refusal = code
    hold = core.faults.take("userpaying", "micropay")
    outcome = core.trades.micropay(
        mch_id=core.keys.mch_id,
        appid=core.keys.appid,
        out_trade_no=_order_no(fields),
        amount_fen=_fen(fields, "total_fee"),
        auth_code=_need(fields, "auth_code"),
        description=_need(fields, "body"),
        attach=fields.get("attach", ""),
        refusal=refusal,
        hold_seconds=None if hold is None else hold.seconds,
    )
    return _outcome(outcome, views.paid_fields)


def _orderquery(core: WechatCore, fields: Fields) -> Fields:
    if not fields.get("transaction_id") and not fields.get("out_trade_no"):
        raise ParamError("LACK_PARAMS", "缺少参数out_trade_no或transaction_id")
    trade = _trade(core, fields)
    if trade is None:
        return _error("ORDERNOTEXIST")
    answer = {
        "result_code": "SUCCESS",
        "trade_state": trade.state,
        "trade_state_desc": views.STATE_TEXT.get(trade.state, trade.state),
        "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type,
        "total_fee": str(trade.amount_fen),
    }
    if trade.state in PAID:
        answer.update(views.paid_fields(trade))
    return answer


def _reverse(core: WechatCore, fields: Fields) -> Fields:
    trade = _trade(core, fields)
    if trade is None:
        return {**_error("ORDERNOTEXIST"), "recall": "N"}
    outcome = core.trades.reverse(core.keys.mch_id, trade.out_trade_no)
    return {**_outcome(outcome, lambda _trade: {}), "recall": "N"}


def _unifiedorder(core: WechatCore, fields: Fields) -> Fields:
    if _need(fields, "trade_type") != "NATIVE":
        raise ParamError("PARAM_ERROR", "possim simulates trade_type NATIVE only")
    _need(fields, "spbill_create_ip")
    outcome = core.trades.native(
        mch_id=core.keys.mch_id,
        appid=core.keys.appid,
        out_trade_no=_order_no(fields),
        amount_fen=_fen(fields, "total_fee"),
        description=_need(fields, "body"),
        notify_url=_notify_url(fields),
        attach=fields.get("attach", ""),
    )
    if outcome.trade is not None and outcome.error is None:
        outcome.trade.sign_type = fields.get("sign_type") or "MD5"
    return _outcome(
        outcome,
        lambda trade: {
            "trade_type": "NATIVE",
            "prepay_id": f"wx{trade.transaction_id}",
            "code_url": trade.code_url or "",
        },
    )


def _closeorder(core: WechatCore, fields: Fields) -> Fields:
    return _outcome(core.trades.close(core.keys.mch_id, _order_no(fields)), lambda _t: {})


def _refund(core: WechatCore, fields: Fields) -> Fields:
    trade = _trade(core, fields)
    if trade is None:
        return _error("ORDERNOTEXIST")
    total = _fen(fields, "total_fee")
    if total != trade.amount_fen:
        raise ParamError("INVALID_REQUEST", "订单金额与支付金额不一致")
    outcome = core.trades.refund(
        core.keys.mch_id,
        trade.out_trade_no,
        _order_no(fields, "out_refund_no"),
        _fen(fields, "refund_fee"),
        notify_url=_notify_url(fields) if fields.get("notify_url") else None,
    )
    if outcome.error is not None:
        return _error(outcome.error)
    assert outcome.refund is not None
    if outcome.new_refund:
        notices.notify_refunded(core, trade, outcome.refund, "v2")
    return {
        "result_code": "SUCCESS",
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "out_refund_no": outcome.refund.out_refund_no,
        "refund_id": outcome.refund.refund_id,
        "refund_fee": str(outcome.refund.amount_fen),
        "total_fee": str(trade.amount_fen),
        "cash_fee": str(trade.amount_fen),
        "cash_refund_fee": str(outcome.refund.amount_fen),
    }


def _refundquery(core: WechatCore, fields: Fields) -> Fields:
    mch_id = core.keys.mch_id
    trade: Trade | None = None
    if fields.get("out_refund_no"):
        found = core.trades.find_refund(mch_id, fields["out_refund_no"])
        trade = None if found is None else found[0]
        refunds = [] if found is None else [found[1]]
    else:
        trade = _trade(core, fields)
        refunds = [] if trade is None else trade.refunds
    if trade is None or not refunds:
        return _error("REFUNDNOTEXIST")
    answer = {
        "result_code": "SUCCESS",
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "total_fee": str(trade.amount_fen),
        "cash_fee": str(trade.amount_fen),
        "refund_count": str(len(refunds)),
    }
    for n, refund in enumerate(refunds):
        answer |= {
            f"out_refund_no_{n}": refund.out_refund_no,
            f"refund_id_{n}": refund.refund_id,
            f"refund_fee_{n}": str(refund.amount_fen),
            f"refund_status_{n}": refund.status,
            f"refund_recv_accout_{n}": "支付用户的零钱",
            f"refund_success_time_{n}": refund.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
    return answer


def _downloadbill(core: WechatCore, fields: Fields) -> Fields | bytes:
    text = _need(fields, "bill_date")
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise ParamError("PARAM_ERROR", "bill_date参数格式错误") from None
    if len(text) != 8 or not text.isdigit():
        raise ParamError("PARAM_ERROR", "bill_date参数格式错误")
    bill_type = fields.get("bill_type") or "ALL"
    if bill_type not in bills.BILL_TYPES:
        raise ParamError("PARAM_ERROR", "bill_type参数错误")
    bill = bills.trade_bill(core.trades.all(), day, bill_type)
    if bill is None:
        # 下载对账单: a day without a bill is return_code FAIL, return_msg "No Bill Exist".
        raise ReturnFail("No Bill Exist")
    return bill.encode("utf-8")


_CALLS: dict[str, tuple[str, Callable[[WechatCore, Fields], Fields | bytes]]] = {
    "pay/micropay": ("micropay", _micropay),
    "pay/orderquery": ("orderquery", _orderquery),
    "secapi/pay/reverse": ("reverse", _reverse),
    "pay/unifiedorder": ("unifiedorder", _unifiedorder),
    "pay/closeorder": ("closeorder", _closeorder),
    "secapi/pay/refund": ("refund", _refund),
    "pay/refundquery": ("refundquery", _refundquery),
    "pay/downloadbill": ("downloadbill", _downloadbill),
}
