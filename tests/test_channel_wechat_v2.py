"""wechatpy (the v2 SDK, unmodified) against possim's WeChat Pay simulator on loopback.

Rules quoted from WeChat Pay's v2 documentation (pay.weixin.qq.com/wiki/doc/api):
提交付款码支付 (micropay.php?chapter=9_10), 查询订单 (chapter=9_2), 撤销订单 (chapter=9_11),
关闭订单, 申请退款, 下载对账单, 支付结果通知, 安全规范 (chapter=4_3).
"""

from __future__ import annotations

import csv
import io
import itertools
import urllib.request
from collections.abc import Iterator

import pytest
import xmltodict
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature_hmac

from simulator.channels.wechat import v2wire
from simulator.channels.wechat.control import scan
from simulator.channels.wechat.faults import FaultSpecError, parse
from simulator.channels.wechat.notify import RETRY_SCHEDULE
from simulator.channels.wechat.server import WechatPaySimulator
from simulator.clock import VirtualClock
from tests.wechat_helpers import PAYMENT_CODE, Receiver, wechat_pay

IP = "127.0.0.1"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sim(
    clock: VirtualClock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WechatPaySimulator]:
    with wechat_pay(clock, tmp_path_factory.getbasetemp() / "wechat-keys") as simulator:
        yield simulator


def client(sim: WechatPaySimulator, api_key: str | None = None) -> WeChatPay:
    keys = sim.core.keys
    pay = WeChatPay(appid=keys.appid, api_key=api_key or keys.api_key, mch_id=keys.mch_id)
    pay.API_BASE_URL = sim.base_url + "/"  # wechatpy's base URL: the one setting it needs
    return pay


def test_micropay_userpaying_then_query_until_success_and_a_reverse(
    sim: WechatPaySimulator, clock: VirtualClock
) -> None:
    pay = client(sim)
    # 付款码支付, 验证密码规则: "支付金额>1000元的交易需要验证用户支付密码"; the answer is
    # USERPAYING and "商户系统可设置间隔时间(建议10秒)重新查询支付结果".
    with pytest.raises(WeChatPayException) as raised:
        pay.micropay.create("TV", 150_000, PAYMENT_CODE, client_ip=IP, out_trade_no="T-1")
    assert (raised.value.return_code, raised.value.errcode) == ("SUCCESS", "USERPAYING")
    assert pay.micropay.query(out_trade_no="T-1")["trade_state"] == "USERPAYING"
    clock.advance(10)  # the customer enters the password
    paid = pay.micropay.query(out_trade_no="T-1")
    assert paid["trade_state"] == "SUCCESS"
    assert paid["total_fee"] == "150000" and paid["transaction_id"]
    assert v2wire.sign_is_valid(paid, sim.core.keys.api_key)  # the answer is signed

    # 撤销订单: "如果交易成功，则将扣款退回到用户账户"; recall N: no need to call again.
    reversed_ = pay.order.reverse(out_trade_no="T-1")
    assert reversed_["result_code"] == "SUCCESS" and reversed_["recall"] == "N"
    assert pay.micropay.query(out_trade_no="T-1")["trade_state"] == "REVOKED"


def test_a_small_payment_succeeds_at_once_and_a_repeat_is_the_same_order(
    sim: WechatPaySimulator,
) -> None:
    pay = client(sim)
    first = pay.micropay.create("Cola", 350, PAYMENT_CODE, client_ip=IP, out_trade_no="T-2")
    again = pay.micropay.create("Cola", 350, PAYMENT_CODE, client_ip=IP, out_trade_no="T-2")
    assert first["transaction_id"] == again["transaction_id"]
    assert first["time_end"] == "20260115103000"  # Beijing time, from the simulation's clock
    with pytest.raises(WeChatPayException) as raised:
        pay.micropay.create("Cola", 999, PAYMENT_CODE, client_ip=IP, out_trade_no="T-2")
    assert raised.value.errcode == "OUT_TRADE_NO_USED"


def test_hmac_sha256_requests_get_hmac_sha256_answers(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip=IP, out_trade_no="T-3")
    answer = pay.post(
        "pay/orderquery",
        data={"appid": pay.appid, "out_trade_no": "T-3", "sign_type": "HMAC-SHA256"},
    )
    unsigned = {k: v for k, v in answer.items() if k != "sign"}
    assert answer["sign"] == calculate_signature_hmac(unsigned, sim.core.keys.api_key)


def test_wechatpys_sandbox_mode_signs_with_the_sandbox_key(sim: WechatPaySimulator) -> None:
    keys = sim.core.keys
    pay = WeChatPay(appid=keys.appid, api_key=keys.api_key, mch_id=keys.mch_id, sandbox=True)
    pay.API_BASE_URL = sim.base_url + "/"
    paid = pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip=IP, out_trade_no="S-1")
    assert paid["result_code"] == "SUCCESS"
    assert pay.sandbox_api_key != keys.api_key  # fetched from sandboxnew/pay/getsignkey
    assert not v2wire.sign_is_valid(paid, keys.api_key)  # the sandbox signs with its own key
    assert v2wire.sign_is_valid(paid, pay.sandbox_api_key)


def test_a_wrong_signature_is_refused_and_changes_nothing(sim: WechatPaySimulator) -> None:
    before = sim.core.trades.snapshot()
    pay = client(sim, api_key="0" * 32)
    # 查询订单 return_msg: "返回信息，如非空，为错误原因 签名失败 参数格式校验错误"
    with pytest.raises(WeChatPayException) as raised:
        pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip=IP, out_trade_no="T-4")
    assert raised.value.return_code == "FAIL"
    assert raised.value.return_msg == "签名错误"
    assert sim.core.trades.snapshot() == before


def test_systemerror_means_query_then_pay_again(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    sim.core.faults.arm({"kind": "system_error", "api": "micropay"})
    # 付款码支付: "当返回结果为“系统错误”时，商户系统等待5秒后调用【查询订单API】"
    with pytest.raises(WeChatPayException) as raised:
        pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip=IP, out_trade_no="T-5")
    assert raised.value.errcode == "SYSTEMERROR"
    with pytest.raises(WeChatPayException) as missing:
        pay.micropay.query(out_trade_no="T-5")
    assert missing.value.errcode == "ORDERNOTEXIST"
    paid = pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip=IP, out_trade_no="T-5")
    assert paid["result_code"] == "SUCCESS"


@pytest.mark.parametrize(
    ("kind", "code"), [("expired_code", "AUTHCODEEXPIRE"), ("not_enough", "NOTENOUGH")]
)
def test_refused_payment_codes(sim: WechatPaySimulator, kind: str, code: str) -> None:
    sim.core.faults.arm({"kind": kind})
    with pytest.raises(WeChatPayException) as raised:
        client(sim).micropay.create("Cola", 100, PAYMENT_CODE, client_ip=IP, out_trade_no="T-6")
    assert raised.value.errcode == code
    assert len(sim.core.trades) == 0


def test_a_code_that_is_not_a_wechat_payment_code(sim: WechatPaySimulator) -> None:
    with pytest.raises(WeChatPayException) as raised:
        client(sim).micropay.create(
            "Cola", 100, "2834567890123456", client_ip=IP, out_trade_no="T-7"
        )
    assert raised.value.errcode == "AUTH_CODE_INVALID"


def test_close_refund_refundquery_and_the_bill(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    pay.micropay.create("Cola", 1_000, PAYMENT_CODE, client_ip=IP, out_trade_no="T-8")
    with pytest.raises(WeChatPayException) as paid:
        pay.order.close("T-8")
    assert paid.value.errcode == "ORDERPAID"  # 关闭订单: "订单已支付，不能发起关单"
    refund = pay.refund.apply(1_000, 400, "R-8", out_trade_no="T-8")
    assert refund["refund_fee"] == "400"
    with pytest.raises(WeChatPayException) as too_much:
        pay.refund.apply(1_000, 700, "R-8b", out_trade_no="T-8")
    assert too_much.value.errcode == "REFUND_EXCEEDED"
    queried = pay.refund.query(out_refund_no="R-8")
    assert (queried["refund_count"], queried["refund_status_0"]) == ("1", "SUCCESS")

    native = pay.order.create(
        "NATIVE",
        "Cola",
        500,
        "http://127.0.0.1:9/n",
        client_ip=IP,
        out_trade_no="T-9",
        product_id="cola",
    )
    assert native["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert pay.order.close("T-9")["result_code"] == "SUCCESS"
    with pytest.raises(WeChatPayException) as closed:
        pay.order.close("T-9")
    assert closed.value.errcode == "ORDERCLOSED"

    bill = pay.tools.download_bill("20260115")
    assert isinstance(bill, str)  # the bill is text, not XML: wechatpy hands it over as is
    rows = list(csv.reader(io.StringIO(bill)))
    assert rows[0][:3] == ["交易时间", "公众账号ID", "商户号"]
    kinds = [(row[6].lstrip("`"), row[9].lstrip("`")) for row in rows[1:-2]]
    assert kinds == [("T-8", "SUCCESS"), ("T-8", "REFUND")]
    assert rows[-1][:3] == ["`2", "`10.00", "`4.00"]
    with pytest.raises(WeChatPayException) as none:
        pay.tools.download_bill("20260114")
    assert none.value.return_msg == "No Bill Exist"


def _merchant(pay: WeChatPay, seen: list[str]) -> Receiver:
    """A merchant that checks every notify with wechatpy, as 支付结果通知 requires:
    "商户系统对于支付结果通知的内容一定要做签名验证"."""

    def answer(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        try:
            data = pay.parse_payment_result(body)
        except InvalidSignatureException:
            seen.append("refused")
            return (
                200,
                b"<xml><return_code>FAIL</return_code><return_msg>bad sign</return_msg></xml>",
            )
        seen.append(f"{data['out_trade_no']} {data['total_fee']}")
        return 200, b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>"

    return Receiver(answer)


def test_native_notify_and_a_forged_one_the_merchant_refuses(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    seen: list[str] = []
    with _merchant(pay, seen) as merchant:
        native = pay.order.create(
            "NATIVE",
            "Cola",
            500,
            merchant.url,
            client_ip=IP,
            out_trade_no="T-10",
            product_id="cola",
        )
        sim.core.faults.arm({"kind": "notify_forged"})
        assert scan(sim.core, native["code_url"]) is None
        assert sim.core.notifier.wait_for_attempts(2, timeout=60)
    assert seen == ["refused", "T-10 500"]
    assert pay.order.query(out_trade_no="T-10")["trade_state"] == "SUCCESS"


def test_an_unanswered_notify_is_retried_on_wechats_schedule(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    with Receiver(lambda headers, body: (500, b"busy")) as merchant:
        native = pay.order.create(
            "NATIVE",
            "Cola",
            500,
            merchant.url,
            client_ip=IP,
            out_trade_no="T-11",
            product_id="cola",
        )
        scan(sim.core, native["code_url"])
        assert sim.core.notifier.wait_for_attempts(len(RETRY_SCHEDULE) + 1, timeout=120)
    attempts = [a for a in sim.core.notifier.history if a.label == "T-11"]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    # 支付结果通知: "通知频率为15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m"
    assert gaps == list(RETRY_SCHEDULE)
    assert sum(RETRY_SCHEDULE) == 24 * 3600 + 4 * 60


def test_duplicated_and_lost_notifies(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    seen: list[str] = []
    with _merchant(pay, seen) as merchant:
        sim.core.faults.arm({"kind": "notify_lost"})
        lost = pay.order.create(
            "NATIVE", "A", 100, merchant.url, client_ip=IP, out_trade_no="T-12", product_id="a"
        )
        scan(sim.core, lost["code_url"])
        sim.core.faults.arm({"kind": "notify_duplicated"})
        twice = pay.order.create(
            "NATIVE", "B", 200, merchant.url, client_ip=IP, out_trade_no="T-13", product_id="b"
        )
        scan(sim.core, twice["code_url"])
        assert sim.core.notifier.wait_for_attempts(2, timeout=60)
    assert seen == ["T-13 200", "T-13 200"]


def test_xml_bombs_and_garbage_are_refused_in_one_line(sim: WechatPaySimulator) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>'
    for body in (bomb, b"not xml", b"<xml><a><b>1</b></a></xml>"):
        request = urllib.request.Request(sim.base_url + "/pay/micropay", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = xmltodict.parse(response.read())["xml"]
        assert (answer["return_code"], answer["return_msg"]) == ("FAIL", "XML格式错误")


def test_faults_are_checked_data() -> None:
    assert parse({"kind": "slow", "seconds": 30, "api": "orderquery"}).seconds == 30
    for spec, words in (
        ({"kind": "meteor"}, "kind must be one of"),
        ({"kind": "slow"}, "slow needs seconds"),
        ({"kind": "system_error", "times": 0}, "times must be"),
        ({"kind": "system_error", "api": "pay"}, "api must be one of"),
        ({"kind": "system_error", "colour": 1}, "unknown field 'colour'"),
    ):
        with pytest.raises(FaultSpecError, match=words) as raised:
            parse(spec)
        assert "\n" not in str(raised.value)


def test_a_refund_notify_wechatpy_decrypts(sim: WechatPaySimulator) -> None:
    pay = client(sim)
    seen: list[dict[str, object]] = []

    def merchant(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        # 退款结果通知: req_info is AES-256-ECB under md5(key); wechatpy decrypts it.
        seen.append(pay.parse_refund_notify_result(body))
        return 200, b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>"

    with Receiver(merchant) as receiver:
        pay.micropay.create("Cola", 800, PAYMENT_CODE, client_ip=IP, out_trade_no="T-14")
        pay.refund.apply(800, 300, "R-14", out_trade_no="T-14", notify_url=receiver.url)
        pay.refund.apply(800, 300, "R-14", out_trade_no="T-14", notify_url=receiver.url)
        assert sim.core.notifier.notices == 1  # the repeat is the same refund: one notify
        assert sim.core.notifier.wait_for_attempts(1, timeout=60)
    assert seen[0]["out_refund_no"] == "R-14" and seen[0]["refund_fee"] == 300
    assert seen[0]["refund_status"] == "SUCCESS"
