"""WeChat Pay APIv3 (JSON), as pay.weixin.qq.com/docs/merchant/apis documents it.

Every request must carry a valid ``Authorization`` (:mod:`.v3wire`). 签名 (wechatpay3_3):
"没有携带签名或者签名验证不通过的请求，都不会被执行，并返回401 Unauthorized" -- so a
refused request is ``401 {"code": "SIGN_ERROR", "message": ...}`` and changes nothing. The
messages are WeChat's own (签名相关QA, "为什么请求返回401 Unauthorized"), among them
"Http头Authorization中的timestamp与发起请求的时间不得超过5分钟". A nonce the
merchant already used within those 5 minutes is refused the same way: a replayed request.

Every answer is signed with the platform key: ``Wechatpay-Serial`` is the platform
public key id (公钥模式, the default) or the platform certificate's serial
(``core.public_key_mode = False``). Status codes (错误码篇): 200 with a body, 204
without, 202 accepted (USERPAYING), 4xx refused, 500 SYSTEM_ERROR.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

from aiohttp import web

from simulator.channels.wechat import bills, notices, v3wire, views
from simulator.channels.wechat.core import NONCE_WINDOW_SECONDS, WechatCore
from simulator.channels.wechat.trades import ERRORS, Outcome, Trade

MAX_FEE_FEN = 10**10
# The neutral refusals as v3 spells them: HTTP status and code.
V3_ERRORS = {
    "SYSTEMERROR": (500, "SYSTEM_ERROR"),
    "USERPAYING": (202, "USERPAYING"),
    "AUTHCODEEXPIRE": (400, "AUTHCODEEXPIRE"),
    "AUTH_CODE_INVALID": (400, "PARAM_ERROR"),
    "NOTENOUGH": (403, "NOT_ENOUGH"),
    "ORDERPAID": (403, "ORDERPAID"),
    "ORDERCLOSED": (403, "ORDER_CLOSED"),
    "ORDERREVERSED": (403, "ORDERREVERSED"),
    "ORDERNOTEXIST": (404, "ORDER_NOT_EXIST"),
    "OUT_TRADE_NO_USED": (403, "OUT_TRADE_NO_USED"),
    "REVERSE_EXPIRE": (403, "REVERSE_EXPIRE"),
    "TRADE_STATE_ERROR": (400, "INVALID_REQUEST"),
    "REFUND_EXCEEDED": (400, "INVALID_REQUEST"),
    "REFUND_NO_USED": (400, "INVALID_REQUEST"),
    "REFUNDNOTEXIST": (404, "RESOURCE_NOT_EXISTS"),
}
_ORDER_NO = re.compile(r"[0-9A-Za-z_\-*|]{1,32}")


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def refusal(error: str) -> Refusal:
    status, code = V3_ERRORS[error]
    return Refusal(status, code, ERRORS[error])


Reply = tuple[int, Any]  # status, JSON value (None: no body) or raw bytes
Action = Callable[[WechatCore, web.Request, Any], Reply]


def routes(core: WechatCore) -> list[web.RouteDef]:
    def bind(method: str, path: str, api: str, action: Action) -> web.RouteDef:
        return web.route(method, path, functools.partial(_handle, core, api, action))

    base = "/v3/pay/transactions"
    return [
        bind("POST", f"{base}/codepay", "codepay", _codepay),
        bind("POST", f"{base}/native", "native", _native),
        bind("GET", f"{base}/out-trade-no/{{out_trade_no}}", "query", _query),
        bind("GET", f"{base}/id/{{transaction_id}}", "query", _query),
        bind("POST", f"{base}/out-trade-no/{{out_trade_no}}/reverse", "reverse", _reverse),
        bind("POST", f"{base}/out-trade-no/{{out_trade_no}}/close", "close", _close),
        bind("POST", "/v3/refund/domestic/refunds", "refunds", _refund),
        bind("GET", "/v3/refund/domestic/refunds/{out_refund_no}", "refunds", _refund_query),
        bind("GET", "/v3/bill/tradebill", "tradebill", _tradebill),
        bind("GET", "/v3/billdownload/file", "tradebill", _bill_file),
        bind("GET", "/v3/certificates", "certificates", _certificates),
    ]


def _json(status: int, value: Any) -> bytes:
    if value is None:
        return b""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _answer(
    core: WechatCore, request: web.Request, api: str, status: int, body: bytes
) -> web.Response:
    serial = core.platform_serial
    timestamp = int(core.wall_time())
    headers = v3wire.signed_headers(core.keys.platform_private_key(), serial, timestamp, body)
    if core.faults.take("bad_signature", api) is not None:
        headers["Wechatpay-Signature"] = v3wire.sign(core.keys.platform_private_key(), b"forged")
    content_type = "application/json" if body[:1] in (b"{", b"[") else "application/octet-stream"
    return web.Response(status=status, body=body, headers={**headers, "Content-Type": content_type})


def _unsigned_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def _handle(
    core: WechatCore, api: str, action: Action, request: web.Request
) -> web.StreamResponse:
    body = await request.read()
    problem = _authenticate(core, request, body)
    if problem is not None:
        return _unsigned_error(401, "SIGN_ERROR", problem)
    await core.maybe_slow(api)
    try:
        if core.faults.take("system_error", api) is not None:
            raise refusal("SYSTEMERROR")
        document: Any = None
        if request.method == "POST":
            try:
                document = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise Refusal(400, "PARAM_ERROR", "请求体不是JSON") from None
            if not isinstance(document, dict):
                raise Refusal(400, "PARAM_ERROR", "请求体应为JSON对象")
        with core.clock.actor():  # time stands still while the order changes
            status, value = action(core, request, document)
    except Refusal as refused:
        return _answer(
            core,
            request,
            api,
            refused.status,
            _json(0, {"code": refused.code, "message": refused.message}),
        )
    raw = value if isinstance(value, bytes) else _json(status, value)
    return _answer(core, request, api, status, raw)


def _authenticate(core: WechatCore, request: web.Request, body: bytes) -> str | None:
    """Why the request's signature is refused; None: it is the merchant's, and fresh."""
    try:
        auth = v3wire.parse_authorization(request.headers.get("Authorization", ""))
    except v3wire.AuthorizationError as error:
        return str(error)
    if auth["mchid"] != core.keys.mch_id:
        return "商户号不存在"
    if auth["serial_no"].upper() != core.keys.merchant_serial:
        return "商户证书序列号有误。"
    timestamp = auth["timestamp"]
    now = core.wall_time()
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"
    if abs(now - int(timestamp)) > NONCE_WINDOW_SECONDS:
        return "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
    message = v3wire.request_message(
        request.method, request.raw_path, timestamp, auth["nonce_str"], body
    )
    if not v3wire.verify(core.keys.merchant_public_key(), message, auth["signature"]):
        return "错误的签名，导致验签失败"
    if core.nonce_seen(auth["mchid"], auth["nonce_str"], now):
        return "重复的请求：nonce_str在5分钟内已使用"
    return None


# -- parameters ------------------------------------------------------------------------


def _field(document: dict[str, Any], *path: str) -> Any:
    value: Any = document
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise Refusal(400, "PARAM_ERROR", f'输入源"/body/{"/".join(path)}"映射到字段缺失')
        value = value[name]
    return value


def _text(document: dict[str, Any], *path: str, limit: int = 127) -> str:
    value = _field(document, *path)
    if not isinstance(value, str) or not value or len(value) > limit or not _utf8(value):
        raise Refusal(400, "PARAM_ERROR", f"/{'/'.join(path)} 应为1-{limit}个字符的字符串")
    return value


def _utf8(text: str) -> bool:
    """Not a lone surrogate (a JSON ``\\ud800``): it could be neither stored nor billed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _total(document: dict[str, Any], *path: str) -> int:
    value = _field(document, *path)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_FEE_FEN:
        raise Refusal(400, "PARAM_ERROR", f"/{'/'.join(path)} 应为正整数（分）")
    return value


def _notify_url(document: dict[str, Any]) -> str:
    notify_url = _text(document, "notify_url", limit=255)
    if not notify_url.startswith(("http://", "https://")):
        raise Refusal(400, "PARAM_ERROR", "notify_url 应为 http(s) 地址")
    return notify_url


def _order_no(value: str) -> str:
    if not _ORDER_NO.fullmatch(value):
        raise Refusal(400, "PARAM_ERROR", "out_trade_no 只能是数字、大小写字母_-|*，至多32个字符")
    return value


def _merchant(core: WechatCore, document: dict[str, Any]) -> None:
    if _text(document, "mchid", limit=32) != core.keys.mch_id:
        raise Refusal(400, "PARAM_ERROR", "mchid与请求的商户号不一致")
    if "appid" in document and document["appid"] != core.keys.appid:
        raise Refusal(400, "PARAM_ERROR", "appid和mch_id不匹配")


def _outcome(outcome: Outcome) -> Trade:
    if outcome.error is not None:
        raise refusal(outcome.error)
    assert outcome.trade is not None
    return outcome.trade


# -- the calls -------------------------------------------------------------------------


def _codepay(core: WechatCore, request: web.Request, document: Any) -> Reply:
    _merchant(core, document)
    refusal_code = None
    for kind, code in (("expired_code", "AUTHCODEEXPIRE"), ("not_enough", "NOTENOUGH")):
        if core.faults.take(kind, "codepay") is not None:
            refusal_code = code
    hold = core.faults.take("userpaying", "codepay")
    outcome = core.trades.micropay(
        mch_id=core.keys.mch_id,
        appid=core.keys.appid,
        out_trade_no=_order_no(_text(document, "out_trade_no", limit=32)),
        amount_fen=_total(document, "amount", "total"),
        auth_code=_text(document, "payer", "auth_code", limit=128),
        description=_text(document, "description"),
        attach=_text(document, "attach", limit=128) if "attach" in document else "",
        refusal=refusal_code,
        hold_seconds=None if hold is None else hold.seconds,
    )
    if outcome.trade is not None:
        outcome.trade.api = "v3"
    if outcome.error == "USERPAYING":
        return 202, {"code": "USERPAYING", "message": ERRORS["USERPAYING"]}
    return 200, views.transaction(_outcome(outcome))


def _native(core: WechatCore, request: web.Request, document: Any) -> Reply:
    _merchant(core, document)
    notify_url = _notify_url(document)
    outcome = core.trades.native(
        mch_id=core.keys.mch_id,
        appid=core.keys.appid,
        out_trade_no=_order_no(_text(document, "out_trade_no", limit=32)),
        amount_fen=_total(document, "amount", "total"),
        description=_text(document, "description"),
        notify_url=notify_url,
    )
    trade = _outcome(outcome)
    trade.api = "v3"
    return 200, {"code_url": trade.code_url}


def _find(core: WechatCore, request: web.Request) -> Trade:
    mch_id = request.query.get("mchid", "")
    if mch_id != core.keys.mch_id:
        raise Refusal(400, "PARAM_ERROR", "query 参数 mchid 缺失或与商户号不一致")
    info = request.match_info
    if "transaction_id" in info:
        trade = core.trades.by_transaction(mch_id, info["transaction_id"])
    else:
        trade = core.trades.get(mch_id, info["out_trade_no"])
    if trade is None:
        raise refusal("ORDERNOTEXIST")
    return trade


def _query(core: WechatCore, request: web.Request, document: Any) -> Reply:
    return 200, views.transaction(_find(core, request))


def _reverse(core: WechatCore, request: web.Request, document: Any) -> Reply:
    _merchant(core, document)
    trade = _outcome(core.trades.reverse(core.keys.mch_id, request.match_info["out_trade_no"]))
    return 200, {"appid": trade.appid, "mchid": trade.mch_id, "out_trade_no": trade.out_trade_no}


def _close(core: WechatCore, request: web.Request, document: Any) -> Reply:
    _merchant(core, document)
    _outcome(core.trades.close(core.keys.mch_id, request.match_info["out_trade_no"]))
    return 204, None


def _refund(core: WechatCore, request: web.Request, document: Any) -> Reply:
    mch_id = core.keys.mch_id
    if isinstance(document.get("transaction_id"), str):
        trade = core.trades.by_transaction(mch_id, document["transaction_id"])
    else:
        trade = core.trades.get(mch_id, _text(document, "out_trade_no", limit=32))
    if trade is None:
        raise refusal("ORDERNOTEXIST")
    if _total(document, "amount", "total") != trade.amount_fen:
        raise Refusal(400, "INVALID_REQUEST", "订单金额与支付金额不一致")
    out_refund_no = _order_no(_text(document, "out_refund_no", limit=64))
    notify_url = _notify_url(document) if "notify_url" in document else None
    outcome = core.trades.refund(
        mch_id, trade.out_trade_no, out_refund_no, _total(document, "amount", "refund"), notify_url
    )
    _outcome(outcome)
    assert outcome.refund is not None
    if outcome.new_refund:
        notices.notify_refunded(core, trade, outcome.refund, "v3")
    return 200, views.refund_view(trade, outcome.refund)


def _refund_query(core: WechatCore, request: web.Request, document: Any) -> Reply:
    found = core.trades.find_refund(core.keys.mch_id, request.match_info["out_refund_no"])
    if found is None:
        raise refusal("REFUNDNOTEXIST")
    return 200, views.refund_view(*found)


def _tradebill(core: WechatCore, request: web.Request, document: Any) -> Reply:
    try:
        day = date.fromisoformat(request.query.get("bill_date", ""))
    except ValueError:
        raise Refusal(400, "PARAM_ERROR", "bill_date 应为 YYYY-MM-DD") from None
    bill_type = request.query.get("bill_type", "ALL")
    tar_type = request.query.get("tar_type", "")
    if bill_type not in ("ALL", "SUCCESS", "REFUND") or tar_type not in ("", "GZIP"):
        raise Refusal(400, "PARAM_ERROR", "bill_type 应为 ALL/SUCCESS/REFUND，tar_type 应为 GZIP")
    bill = bills.trade_bill(core.trades.all(), day, bill_type)
    if bill is None:
        raise Refusal(400, "NO_STATEMENT_EXIST", "账单文件不存在")
    raw = bill.encode("utf-8")
    content = gzip.compress(raw, mtime=0) if tar_type == "GZIP" else raw
    token = secrets.token_urlsafe(16)
    core.keep_bill(token, content)
    return 200, {
        "hash_type": "SHA1",
        "hash_value": hashlib.sha1(raw).hexdigest(),
        "download_url": f"{core.base_url}/v3/billdownload/file?token={token}",
    }


def _bill_file(core: WechatCore, request: web.Request, document: Any) -> Reply:
    content = core.bill_tokens.get(request.query.get("token", ""))
    if content is None:
        raise Refusal(400, "INVALID_REQUEST", "下载地址已失效")
    return 200, content


def _certificates(core: WechatCore, request: web.Request, document: Any) -> Reply:
    keys = core.keys
    return 200, {
        "data": [
            {
                "serial_no": keys.platform_serial,
                "effective_time": "2020-01-01T00:00:00+08:00",
                "expire_time": "2036-01-01T00:00:00+08:00",
                "encrypt_certificate": v3wire.encrypt(
                    keys.apiv3_key, keys.platform_certificate_pem, "certificate"
                ),
            }
        ]
    }
