"""A paid order's notify, in the API it was placed with, and the notify faults.

v2 (支付结果通知): the order's fields as signed ``<xml>`` (the order's ``sign_type``); the
merchant takes it by answering ``<xml><return_code>SUCCESS</return_code>...``.
v3 (支付成功回调通知): ``{"event_type": "TRANSACTION.SUCCESS", "resource": {...}}`` with the
transaction encrypted AEAD_AES_256_GCM under the APIv3 key (associated data
``transaction``), the body signed like an answer; the merchant takes it with HTTP 200
or 204 ("接收成功：HTTP应答状态码需返回200或204，无需返回应答报文").

Faults: ``notify_lost`` (never sent), ``notify_duplicated`` (sent twice),
``notify_forged`` (first a copy with a doubled amount and a wrong signature, sent once).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from simulator.channels.wechat import v2wire, v3wire, views
from simulator.channels.wechat.core import WechatCore
from simulator.channels.wechat.notify import Notice
from simulator.channels.wechat.trades import Trade


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
    now = core.clock.now()
    event = {
        "id": f"EV-{secrets.token_hex(10)}",
        "create_time": now.isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            **v3wire.encrypt(
                core.keys.apiv3_key, json.dumps(resource, ensure_ascii=False), "transaction"
            ),
        },
    }
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = v3wire.signed_headers(
        core.keys.platform_private_key(), core.platform_serial, int(core.wall_time()), body
    )
    if forged:
        headers["Wechatpay-Signature"] = v3wire.sign(core.keys.platform_private_key(), b"forged")
    assert trade.notify_url is not None
    return Notice(
        label=trade.out_trade_no,
        url=trade.notify_url,
        body=body,
        headers={**headers, "Content-Type": "application/json"},
        accepted=lambda status, _answer: status in (200, 204),
        retries=not forged,
    )
