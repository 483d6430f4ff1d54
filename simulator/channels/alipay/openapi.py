"""``gateway.do``: the public parameters, the request signature, the signed answer.

Checked in this order, each refusal a public error code
(opendocs.alipay.com/common/02km9f, "公共错误码") that changes nothing:
``method`` (40001 ``isv.missing-method``, 40002 ``isv.invalid-method`` -- answered
under ``error_response``, there being no method to name the answer after),
``app_id``, ``format``, ``charset``, ``sign_type``, ``sign``, ``timestamp``,
``version``, then the RSA2/RSA signature over the sorted parameters (40002
``isv.invalid-signature``). Every answer for a known ``app_id`` is signed, refusals too
(``{"<method>_response":{...},"sign":"..."}``), the signature over the exact
JSON text of the ``*_response`` object; without a known ``app_id`` there is no
key pair to sign with (each app has its own), and the answer has no ``sign``
(opendocs.alipay.com/common/02mse7, "同步响应验签").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator.channels.alipay import signing
from simulator.channels.alipay.answers import INVALID, MISSING, SYSTEM_ERROR, Refused, business
from simulator.channels.alipay.methods import METHODS, parse_biz_content

if TYPE_CHECKING:
    from simulator.channels.alipay.channel import AlipayChannel

CHARSETS = ("utf-8", "gbk", "gb2312")
_REQUIRED = (
    ("app_id", "isv.missing-app-id", "缺少AppID参数"),
    ("sign_type", "isv.missing-signature-type", "缺少签名类型参数"),
    ("sign", "isv.missing-signature", "缺少签名参数"),
    ("timestamp", "isv.missing-timestamp", "缺少时间戳参数"),
    ("version", "isv.missing-version", "缺少版本参数"),
)
INVALID_SIGNATURE_MSG = (
    "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
)


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def _public_checks(ch: AlipayChannel, params: Mapping[str, str]) -> None:
    for name, sub_code, sub_msg in _REQUIRED[:1]:
        if not params.get(name):
            raise Refused(MISSING, sub_code, sub_msg)
    if params["app_id"] not in ch.apps:
        raise Refused(INVALID, "isv.invalid-app-id", "无效的AppID参数")
    if params.get("format", "JSON").upper() != "JSON":
        raise Refused(INVALID, "isv.invalid-format", "无效的数据格式")
    if params.get("charset", "utf-8").lower() not in CHARSETS:
        raise Refused(INVALID, "isv.invalid-charset", "字符集错误")
    for name, sub_code, sub_msg in _REQUIRED[1:]:
        if not params.get(name):
            raise Refused(MISSING, sub_code, sub_msg)
    if params["sign_type"] not in signing.SIGN_TYPES:
        raise Refused(INVALID, "isv.invalid-signature-type", "无效的签名类型")
    try:
        datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise Refused(INVALID, "isv.invalid-timestamp", "非法的时间戳参数") from None
    if params["version"] != "1.0":
        raise Refused(INVALID, "isv.invalid-version", "非法的版本参数")
    content = signing.sign_content(params)
    charset = params.get("charset", "utf-8").lower()
    try:
        signed_bytes = content.encode(charset)
    except UnicodeEncodeError:
        signed_bytes = b""
    key = ch.apps[params["app_id"]]
    good = signing.verify(key, signed_bytes, params["sign"], params["sign_type"])
    if not signed_bytes or not good:
        # Alipay's answer shows the string HTML-escaped ("...app_id=2021...&amp;charset=utf-8
        # &amp;method=..."), as quoted in npm alipay-sdk's alipay.ts.
        shown = content.replace("&", "&amp;")
        raise Refused(INVALID, "isv.invalid-signature", INVALID_SIGNATURE_MSG + shown)


def answer(ch: AlipayChannel, params: Mapping[str, str]) -> tuple[bytes, float]:
    """The bytes of the answer to one request, and how long to hold them back."""
    method = params.get("method", "")
    key = response_key(method) if method in METHODS else "error_response"
    # Each app has its own Alipay key pair: without a known app_id there is no key to
    # sign with, and the answer goes unsigned; every other answer is signed.
    known_app = params.get("app_id", "") in ch.apps
    sign_type = params.get("sign_type", "")
    sign_type = sign_type if sign_type in signing.SIGN_TYPES else "RSA2"
    if not method:
        refused = Refused(MISSING, "isv.missing-method", "缺少方法名参数")
        return _answer(ch, key, refused.node(), known_app, sign_type), 0.0
    if method not in METHODS:
        refused = Refused(INVALID, "isv.invalid-method", "不存在的方法名")
        return _answer(ch, key, refused.node(), known_app, sign_type), 0.0
    try:
        _public_checks(ch, params)
    except Refused as refused:
        return _answer(ch, key, refused.node(), known_app, sign_type), 0.0
    app_id = params["app_id"]
    slow = ch.faults.take(method, ("slow",))
    delay = slow.seconds if slow is not None else 0.0
    bad_signature = ch.faults.take(method, ("bad_signature",)) is not None
    ch.current_notify_url = params.get("notify_url") or None
    try:
        biz = parse_biz_content(params.get("biz_content", ""))
        node = METHODS[method](ch, app_id, biz)
    except Refused as refused:
        node = refused.node()
    finally:
        ch.current_notify_url = None
    if ch.faults.take(method, ("system_error",)) is not None:
        node = business(*SYSTEM_ERROR).node()
    return _answer(ch, key, node, True, sign_type, bad_signature=bad_signature), delay


def _answer(
    ch: AlipayChannel,
    key: str,
    node: dict[str, Any],
    signed: bool,
    sign_type: str,
    *,
    bad_signature: bool = False,
) -> bytes:
    """``{"<key>":{...},"sign":"..."}``, signed with the request's sign_type; unsigned
    (no ``sign``) when there is no app to sign for."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    key_text = json.dumps(key)
    if not signed:
        return f"{{{key_text}:{node_text}}}".encode()
    signer = ch.forger_key if bad_signature and ch.forger_key is not None else ch.signing_key
    sign = signing.sign(signer, node_text, sign_type)
    return f'{{{key_text}:{node_text},"sign":{json.dumps(sign)}}}'.encode()
