"""A paid order's notify, in the API it was placed with, and the notify faults.

v2 (支付结果通知): the order's fields as signed ``<xml>`` (the order's ``sign_type``); the
merchant takes it by answering ``<xml><return_code>SUCCESS</return_code>...``.
v3 (支付成功回调通知): ``{"event_type": "TRANSACTION.SUCCESS", "resource": {...}}`` with the
transaction encrypted AEAD_AES_256_GCM under the APIv3 key (associated data
``transaction``), the body signed like an answer; the merchant takes it with HTTP 200
or 204 ("接收成功：HTTP应答状态码需返回200或204，无需返回应答报文").

Refunds (退款结果通知), when the refund named a ``notify_url``: v2 ``<xml>`` with
``req_info``, the refund's fields encrypted AES-256-ECB (PKCS#7) under the lower-case
hex MD5 of the API key, base64 ("解密步骤：对加密串A做base64解码 ... 对商户key做md5，得到
32位小写key* ... 用key*对加密串B做AES-256-ECB解密（PKCS7Padding）"); v3 ``REFUND.SUCCESS``
with the refund as ``resource`` (associated data ``refund``).

Faults: ``notify_lost`` (never sent), ``notify_duplicated`` (sent twice),
``notify_forged`` (first a copy with a doubled amount and a wrong signature, sent once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from simulator.channels.wechat import v2wire, v3wire, views
from simulator.channels.wechat.core import WechatCore
from simulator.channels.wechat.notify import Notice
from simulator.channels.wechat.trades import Refund, Trade


def notify_paid(core: WechatCore, trade: Trade) -> None:
    """Queue the notify of a newly paid order, as the armed faults allow."""
    if not trade.notify_url:
        return
    api = "unifiedorder" if trade.api == "v2" else "native"
    if core.faults.take("notify_lost", api) is not None:
        return
    if core.faults.take("notify_forged", api) is not None:
        core.notifier.send(_notice(core, trade, forged=True))
    copies = 2 if core.faults.take("notify_duplicated", api) is not None else 1
    for _ in range(copies):
        core.notifier.send(_notice(core, trade, forged=False))


def notify_refunded(core: WechatCore, trade: Trade, refund: Refund, version: str) -> None:
    """Queue a new refund's notify (``version``: the API it was asked through)."""
    if not refund.notify_url:
        return
    api = "refund" if version == "v2" else "refunds"
    if core.faults.take("notify_lost", api) is not None:
        return
    copies = 2 if core.faults.take("notify_duplicated", api) is not None else 1
    for _ in range(copies):
        core.notifier.send(_refund_notice(core, trade, refund, version))


def _refund_notice(core: WechatCore, trade: Trade, refund: Refund, version: str) -> Notice:
    assert refund.notify_url is not None
    if version == "v2":
        inner = v2wire.render(views.refund_fields(trade, refund)).replace(b"xml>", b"root>")
        fields = {
            "return_code": "SUCCESS",
            "appid": trade.appid,
            "mch_id": trade.mch_id,
            "nonce_str": secrets.token_hex(16),
            "req_info": _aes_ecb(hashlib.md5(core.keys.api_key.encode()).hexdigest(), inner),
        }
        return Notice(
            label=refund.out_refund_no,
            url=refund.notify_url,
            body=v2wire.render(fields),
            headers={"Content-Type": "text/xml"},
            accepted=_v2_accepted,
        )
    resource = views.refund_view(trade, refund)
    resource |= {"mchid": trade.mch_id, "refund_status": refund.status}
    return _v3_event(
        core, refund.out_refund_no, refund.notify_url, "REFUND.SUCCESS", "退款成功", "refund",
        resource, forged=False,
    )  # fmt: skip


def _aes_ecb(key: str, plaintext: bytes) -> str:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key.encode("ascii")), modes.ECB()).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def _notice(core: WechatCore, trade: Trade, *, forged: bool) -> Notice:
    assert trade.notify_url is not None
    if trade.api == "v2":
        return _v2_notice(core, trade, forged)
    return _v3_notice(core, trade, forged)


def _v2_notice(core: WechatCore, trade: Trade, forged: bool) -> Notice:
    fields = {
        "return_code": "SUCCESS",
        "appid": trade.appid,
        "mch_id": trade.mch_id,
        "result_code": "SUCCESS",
        **views.paid_fields(trade),
    }
    if trade.sign_type != "MD5":
        fields["sign_type"] = trade.sign_type
    body = v2wire.signed(fields, core.keys.api_key, trade.sign_type)
    if forged:
        body["total_fee"] = body["cash_fee"] = str(trade.amount_fen * 2)
    assert trade.notify_url is not None
    return Notice(
        label=trade.out_trade_no,
        url=trade.notify_url,
        body=v2wire.render(body),
        headers={"Content-Type": "text/xml"},
        accepted=_v2_accepted,
        retries=not forged,
    )


def _v2_accepted(status: int, answer: bytes) -> bool:
    if status != 200:
        return False
    try:
        return v2wire.parse(answer).get("return_code") == "SUCCESS"
    except v2wire.XmlError:
        return False


def _v3_notice(core: WechatCore, trade: Trade, forged: bool) -> Notice:
    resource: dict[str, Any] = views.transaction(trade)
    if forged:
        resource["amount"] = {**resource["amount"], "total": trade.amount_fen * 2}
    assert trade.notify_url is not None
    return _v3_event(
        core, trade.out_trade_no, trade.notify_url, "TRANSACTION.SUCCESS", "支付成功",
        "transaction", resource, forged=forged,
    )  # fmt: skip


def _v3_event(
    core: WechatCore,
    label: str,
    url: str,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
    *,
    forged: bool,
) -> Notice:
    event = {
        "id": f"EV-{secrets.token_hex(10)}",
        "create_time": core.clock.now().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            **v3wire.encrypt(
                core.keys.apiv3_key, json.dumps(resource, ensure_ascii=False), original_type
            ),
        },
    }
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = v3wire.signed_headers(
        core.keys.platform_private_key(), core.platform_serial, int(core.wall_time()), body
    )
    if forged:
        headers["Wechatpay-Signature"] = v3wire.sign(core.keys.platform_private_key(), b"forged")
    return Notice(
        label=label,
        url=url,
        body=body,
        headers={**headers, "Content-Type": "application/json"},
        accepted=lambda status, _answer: status in (200, 204),
        retries=not forged,
    )
