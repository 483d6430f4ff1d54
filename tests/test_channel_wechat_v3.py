"""wechatpayv3 (the v3 SDK, unmodified) against possim's WeChat Pay simulator on loopback.

Rules quoted from WeChat Pay's APIv3 documentation: 签名 (wiki/doc/apiv3/wechatpay/
wechatpay3_3.shtml), 签名验证 (wechatpay4_1), 签名相关QA (faq/chapter1_2), 错误码篇, 付款码支付
(docs/merchant/apis/code-payment-v3/direct/code-pay.html), 支付成功回调通知.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import build_authorization, load_private_key

from simulator.channels.wechat.control import scan
from simulator.channels.wechat.server import WechatPaySimulator
from simulator.clock import VirtualClock
from tests.wechat_helpers import PAYMENT_CODE, Receiver, wechat_pay


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sim(
    clock: VirtualClock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WechatPaySimulator]:
    with wechat_pay(clock, tmp_path_factory.getbasetemp() / "wechat-keys") as simulator:
        yield simulator


def client(
    sim: WechatPaySimulator, *, private_key: str | None = None, notify_url: str | None = None
) -> WeChatPay:
    """The SDK in public-key mode (微信支付公钥: ``public_key`` + ``public_key_id``), so
    building it asks nothing of WeChat; its host is its one hard-coded setting."""
    keys = sim.core.keys
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.CODEPAY,
        mchid=keys.mch_id,
        private_key=private_key or keys.merchant_private_pem,
        cert_serial_no=keys.merchant_serial,
        appid=keys.appid,
        apiv3_key=keys.apiv3_key,
        notify_url=notify_url,
        public_key=keys.platform_public_pem,
        public_key_id=keys.public_key_id,
    )
    wxpay._core._gate_way = sim.base_url
    return wxpay


def codepay(wxpay: WeChatPay, out_trade_no: str, total: int) -> tuple[int, str]:
    code, body = wxpay.pay(
        description="Cola",
        out_trade_no=out_trade_no,
        amount={"total": total, "currency": "CNY"},
        payer={"auth_code": PAYMENT_CODE},
        scene_info={"store_info": {"out_id": "SHOP-1"}},
        pay_type=WeChatPayType.CODEPAY,
    )
    return code, body


def test_codepay_refund_and_query_verified_by_the_sdk(sim: WechatPaySimulator) -> None:
    wxpay = client(sim)
    # Every call below raises "failed to verify the signature" unless the answer
    # carries the platform key's signature (wechatpayv3's Core.request).
    code, body = codepay(wxpay, "V-1", 1_000)
    paid = json.loads(body)
    assert (code, paid["trade_state"], paid["amount"]["payer_total"]) == (200, "SUCCESS", 1_000)
    code, body = wxpay.refund(
        out_refund_no="VR-1",
        amount={"refund": 300, "total": 1_000, "currency": "CNY"},
        out_trade_no="V-1",
    )
    assert (code, json.loads(body)["status"]) == (200, "SUCCESS")
    code, body = wxpay.query(out_trade_no="V-1")
    assert (code, json.loads(body)["trade_state"]) == (200, "REFUND")
    code, body = wxpay.query_refund(out_refund_no="VR-1")
    assert json.loads(body)["amount"]["refund"] == 300


def test_a_forged_answer_signature_is_caught_by_the_sdk(sim: WechatPaySimulator) -> None:
    sim.core.faults.arm({"kind": "bad_signature", "api": "query"})
    wxpay = client(sim)
    codepay(wxpay, "V-2", 100)
    # 签名: "没有携带签名的成功应答(HTTP状态码为2xx)，应认为是伪造或被篡改的应答"
    with pytest.raises(Exception, match="failed to verify the signature"):
        wxpay.query(out_trade_no="V-2")


def test_the_platform_certificate_the_sdk_downloads_and_decrypts(sim: WechatPaySimulator) -> None:
    wxpay = client(sim)
    core = wxpay._core
    sim.core.public_key_mode = False  # a merchant account in 平台证书 mode
    core._public_key = core._public_key_id = None  # and the SDK configured for it
    core._update_certificates()  # GET /v3/certificates, AEAD_AES_256_GCM under the APIv3 key
    assert [f"{c.serial_number:X}" for c in core._certificates] == [sim.core.keys.platform_serial]
    code, _ = codepay(wxpay, "V-3", 100)  # verified with that certificate
    assert code == 200


def test_userpaying_then_success_and_a_reverse(
    sim: WechatPaySimulator, clock: VirtualClock
) -> None:
    wxpay = client(sim)
    sim.core.faults.arm({"kind": "userpaying", "seconds": 15})
    code, body = codepay(wxpay, "V-4", 100)
    # 错误码篇: "已经被成功接受待处理的请求，将返回202"
    assert (code, json.loads(body)["code"]) == (202, "USERPAYING")
    assert json.loads(wxpay.query(out_trade_no="V-4")[1])["trade_state"] == "USERPAYING"
    clock.advance(15)
    assert json.loads(wxpay.query(out_trade_no="V-4")[1])["trade_state"] == "SUCCESS"
    code, _ = wxpay.codepay_reverse(out_trade_no="V-4")
    assert code == 200
    assert json.loads(wxpay.query(out_trade_no="V-4")[1])["trade_state"] == "REVOKED"


def test_native_close_and_the_trade_bill(sim: WechatPaySimulator) -> None:
    wxpay = client(sim, notify_url="http://127.0.0.1:9/notify")
    code, body = wxpay.pay(
        description="Cola", out_trade_no="V-5", amount={"total": 500}, pay_type=WeChatPayType.NATIVE
    )
    assert json.loads(body)["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert wxpay.close(out_trade_no="V-5")[0] == 204  # 错误码篇: "若没有应答的消息体将返回204"
    codepay(wxpay, "V-6", 250)
    code, body = wxpay.trade_bill(bill_date="2026-01-15")
    bill = json.loads(body)
    code, content = wxpay.download_bill(bill["download_url"])
    assert code == 200
    text = gzip.decompress(content).decode("utf-8")
    assert "`V-6,`" in text and "`V-5,`" not in text


def _raw(
    sim: WechatPaySimulator,
    method: str,
    path: str,
    body: str,
    *,
    timestamp: int | None = None,
    nonce: str = "NONCE-0001",
    private_key: str | None = None,
) -> requests.Response:
    keys = sim.core.keys
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    key = load_private_key(private_key or keys.merchant_private_pem)
    message = f"{method}\n{path}\n{stamp}\n{nonce}\n{body}\n".encode()
    signature = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    authorization = (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{keys.mch_id}",nonce_str="{nonce}",'
        f'signature="{signature}",timestamp="{stamp}",serial_no="{keys.merchant_serial}"'
    )
    return requests.request(
        method,
        sim.base_url + path,
        data=body.encode(),
        timeout=30,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )


def _codepay_body(sim: WechatPaySimulator, out_trade_no: str) -> str:
    keys = sim.core.keys
    return json.dumps(
        {
            "appid": keys.appid,
            "mchid": keys.mch_id,
            "description": "Cola",
            "out_trade_no": out_trade_no,
            "amount": {"total": 100},
            "payer": {"auth_code": PAYMENT_CODE},
            "scene_info": {},
        }
    )


def test_a_wrong_signature_is_401_sign_error_and_changes_nothing(sim: WechatPaySimulator) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    before = sim.core.trades.snapshot()
    code, body = codepay(client(sim, private_key=pem), "V-7", 100)
    # 签名: "没有携带签名或者签名验证不通过的请求，都不会被执行，并返回401 Unauthorized"
    assert (code, json.loads(body)["code"]) == (401, "SIGN_ERROR")
    assert json.loads(body)["message"] == "错误的签名，导致验签失败"
    assert sim.core.trades.snapshot() == before
    unsigned = requests.post(
        sim.base_url + "/v3/pay/transactions/codepay", data=_codepay_body(sim, "V-7"), timeout=30
    )
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGN_ERROR")
    assert sim.core.trades.snapshot() == before


def test_a_replayed_request_and_a_stale_timestamp_are_refused(sim: WechatPaySimulator) -> None:
    path = "/v3/pay/transactions/codepay"
    body = _codepay_body(sim, "V-8")
    assert _raw(sim, "POST", path, body, nonce="REPLAY-1").status_code == 200
    state = sim.core.trades.snapshot()
    replayed = _raw(sim, "POST", path, body, nonce="REPLAY-1")
    assert (replayed.status_code, replayed.json()["code"]) == (401, "SIGN_ERROR")
    # 签名相关QA: "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
    stale = _raw(
        sim,
        "POST",
        path,
        _codepay_body(sim, "V-9"),
        nonce="STALE-1",
        timestamp=int(time.time()) - 301,
    )
    assert stale.status_code == 401
    assert (
        stale.json()["message"] == "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
    )
    assert sim.core.trades.snapshot() == state


def test_the_notify_is_encrypted_and_a_tampered_one_is_refused(sim: WechatPaySimulator) -> None:
    seen: list[str] = []
    holder: list[WeChatPay] = []

    def merchant(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        # 回调通知签名: "商户必须使用微信支付公钥验证回调的签名" -- the SDK's callback()
        # verifies, then decrypts the resource; None: refused.
        result = holder[0].callback(headers, body)
        if result is None:
            seen.append("refused")
            return 401, b'{"code":"FAIL","message":"signature"}'
        resource = result["resource"]
        seen.append(f"{resource['out_trade_no']} {resource['amount']['total']}")
        return 204, b""

    with Receiver(merchant) as receiver:
        wxpay = client(sim, notify_url=receiver.url)
        holder.append(wxpay)
        _, body = wxpay.pay(
            description="Cola",
            out_trade_no="V-10",
            amount={"total": 800},
            pay_type=WeChatPayType.NATIVE,
        )
        sim.core.faults.arm({"kind": "notify_forged"})
        assert scan(sim.core, json.loads(body)["code_url"]) is None
        assert sim.core.notifier.wait_for_attempts(2, timeout=60)
    assert seen == ["refused", "V-10 800"]
    accepted = [a.accepted for a in sim.core.notifier.history]
    assert accepted == [False, True]  # the real one was taken at once: no retry


def test_build_authorization_of_the_sdk_matches_what_possim_checks(sim: WechatPaySimulator) -> None:
    keys = sim.core.keys
    authorization = build_authorization(
        "/v3/certificates",
        "GET",
        keys.mch_id,
        keys.merchant_serial,
        load_private_key(keys.merchant_private_pem),
    )
    answer = requests.get(
        sim.base_url + "/v3/certificates", timeout=30, headers={"Authorization": authorization}
    )
    assert answer.status_code == 200 and answer.headers["Wechatpay-Serial"] == keys.public_key_id


def test_a_refund_notify_the_sdk_verifies_and_decrypts(sim: WechatPaySimulator) -> None:
    seen: list[dict[str, object]] = []
    holder: list[WeChatPay] = []

    def merchant(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        result = holder[0].callback(headers, body)
        assert result is not None
        seen.append(result)
        return 204, b""

    with Receiver(merchant) as receiver:
        wxpay = client(sim)
        holder.append(wxpay)
        codepay(wxpay, "V-11", 600)
        code, _ = wxpay.refund(
            out_refund_no="VR-11", amount={"refund": 600, "total": 600, "currency": "CNY"},
            out_trade_no="V-11", notify_url=receiver.url,
        )  # fmt: skip
        assert code == 200
        assert sim.core.notifier.wait_for_attempts(1, timeout=60)
    assert seen[0]["event_type"] == "REFUND.SUCCESS"
    resource = seen[0]["resource"]
    assert isinstance(resource, dict)
    assert (resource["out_refund_no"], resource["refund_status"]) == ("VR-11", "SUCCESS")
    assert resource["amount"]["refund"] == 600
