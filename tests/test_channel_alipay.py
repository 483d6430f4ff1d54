"""The simulated Alipay against python-alipay-sdk, unmodified, on loopback.

Why python-alipay-sdk (fzlee, PyPI ``python-alipay-sdk``) and not Alipay's own
``alipay-sdk-python`` (3.7.1411): the official SDK cannot reach a gateway on any
port but 80/443 -- ``alipay/aop/api/util/WebUtils.get_http_connection`` opens
``HTTPConnection(host, port=80)`` whatever ``server_url`` says, and then fails
building the URL (``url += url_parse_result.port``: str + int, TypeError). Both
install under the import name ``alipay``, so only one can be a dev dependency.
docs/channel_alipay.md says how to point each at possim.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import alipay as alipay_sdk  # python-alipay-sdk, a dev dependency
import pytest

from simulator.channels.alipay import signing
from simulator.channels.alipay.faults import AlipayFault
from simulator.channels.alipay.server import AlipayServer
from simulator.channels.alipay.trades import TradeStatus
from simulator.channels.faults import FaultError
from simulator.clock import VirtualClock
from tests.alipay_helpers import AUTH_CODE, Merchant, alipay_server, sdk_for

AliPayException = alipay_sdk.AliPayException
AliPayValidationError = alipay_sdk.AliPayValidationError


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alipay-keys")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def server(clock: VirtualClock, key_dir: Path) -> Iterator[AlipayServer]:
    with alipay_server(clock, key_dir) as running:
        yield running


@pytest.fixture
def sdk(server: AlipayServer, key_dir: Path) -> Any:
    return sdk_for(server, key_dir)


def _pay(sdk: Any, out_trade_no: str, amount: str = "12.34", **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = sdk.api_alipay_trade_pay(
        out_trade_no, "bar_code", kwargs.pop("auth_code", AUTH_CODE), "possim test",
        total_amount=amount, **kwargs,
    )  # fmt: skip
    return result


# -- the SDK's round trips, verified with the simulator's public key ---------------


def test_bar_code_pay_answers_signed_success(sdk: Any, server: AlipayServer) -> None:
    result = _pay(sdk, "T1")  # the SDK raises unless the answer's sign verifies
    assert result["code"] == "10000" and result["msg"] == "Success"
    assert result["out_trade_no"] == "T1" and result["total_amount"] == "12.34"
    assert len(result["trade_no"]) == 28 and result["gmt_payment"] == "2026-01-15 10:30:00"
    assert result["fund_bill_list"] == [{"fund_channel": "ALIPAYACCOUNT", "amount": "12.34"}]
    trade = server.channel.book.find("2021000000000001", "T1", None)
    assert trade is not None and trade.status == TradeStatus.TRADE_SUCCESS


def test_sdk_refuses_an_answer_signed_with_another_key(sdk: Any, server: AlipayServer) -> None:
    """The SDK does verify: the same answer signed by a key not the simulator's fails."""
    server.channel.faults.arm(AlipayFault("bad_signature"))
    with pytest.raises(AliPayValidationError):
        _pay(sdk, "T-badsig")
    assert _pay(sdk, "T-goodsig")["code"] == "10000"


def test_precreate_then_query_until_the_buyer_pays(sdk: Any, server: AlipayServer) -> None:
    created = sdk.api_alipay_trade_precreate("possim test", "P1", "8.00")
    assert created["code"] == "10000" and created["qr_code"].startswith("https://qr.alipay.com/")
    # Before the buyer scans, Alipay has no trade: query answers ACQ.TRADE_NOT_EXIST.
    before = sdk.api_alipay_trade_query(out_trade_no="P1")
    assert (before["code"], before["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")
    scan = urllib.request.Request(
        server.base_url + "/possim/alipay/scan",
        data=json.dumps({"qr_code": created["qr_code"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(scan, timeout=30) as answer:
        assert json.load(answer)["status"] == "TRADE_SUCCESS"
    after = sdk.api_alipay_trade_query(out_trade_no="P1")
    assert after["code"] == "10000" and after["trade_status"] == "TRADE_SUCCESS"
    assert after["total_amount"] == "8.00" and after["send_pay_date"]


def test_refund_partial_then_full_and_refund_query(sdk: Any) -> None:
    _pay(sdk, "R1", "10.00")
    first = sdk.api_alipay_trade_refund("4.00", out_trade_no="R1", out_request_no="R1-a")
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "4.00")
    assert sdk.api_alipay_trade_query(out_trade_no="R1")["trade_status"] == "TRADE_SUCCESS"
    too_much = sdk.api_alipay_trade_refund("6.01", out_trade_no="R1", out_request_no="R1-b")
    assert too_much["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    rest = sdk.api_alipay_trade_refund("6.00", out_trade_no="R1", out_request_no="R1-b")
    assert rest["refund_fee"] == "10.00"
    assert sdk.api_alipay_trade_query(out_trade_no="R1")["trade_status"] == "TRADE_CLOSED"
    found = sdk.api_alipay_trade_fastpay_refund_query("R1-a", out_trade_no="R1")
    assert (found["refund_amount"], found["refund_status"]) == ("4.00", "REFUND_SUCCESS")
    # "如果没有查询到则代表未退款成功" (alipay.trade.fastpay.refund.query): no refund fields.
    missing = sdk.api_alipay_trade_fastpay_refund_query("R1-zzz", out_trade_no="R1")
    assert missing["code"] == "10000" and "refund_amount" not in missing


# -- refusals, as Alipay documents them -------------------------------------------


def test_a_request_signed_with_the_wrong_key_is_refused(
    server: AlipayServer, key_dir: Path
) -> None:
    """公共错误码 (opendocs.alipay.com/common/02km9f): 40002 Invalid Arguments,
    isv.invalid-signature "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配" -- the
    answer signed (the SDK verifies it and hands it over), nothing recorded."""
    impostor = sdk_for(server, key_dir, app_key="alipay-impostor")
    refused = _pay(impostor, "S1")
    assert (refused["code"], refused["msg"], refused["sub_code"]) == (
        "40002",
        "Invalid Arguments",
        "isv.invalid-signature",
    )
    assert refused["sub_msg"].startswith("验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
    assert "&amp;method=alipay.trade.pay&amp;" in refused["sub_msg"]
    assert len(server.channel.book) == 0  # nothing recorded


def test_an_unknown_app_id_gets_an_unsigned_answer(server: AlipayServer, key_dir: Path) -> None:
    """No app, no key pair to sign with: the answer has no sign; the SDK raises."""
    sdk = sdk_for(server, key_dir)
    sdk._appid = "2021009999999999"
    with pytest.raises(AliPayException) as refused:
        _pay(sdk, "S2")
    assert "code:40002" in str(refused.value) and "isv.invalid-app-id" in str(refused.value)


def test_a_replayed_pay_is_not_paid_twice(sdk: Any, server: AlipayServer) -> None:
    """alipay.trade.pay, 业务错误码: ACQ.TRADE_HAS_SUCCESS 交易已被支付 -- "确认该笔交易信息
    是否为当前买家的已存订单，如果是则认为交易付款成功". The exact signed request, sent again."""
    body = sdk.build_body(
        "alipay.trade.pay",
        {"out_trade_no": "RP1", "scene": "bar_code", "auth_code": AUTH_CODE,
         "subject": "possim test", "total_amount": "3.00"},
    )  # fmt: skip
    url = sdk._gateway + "?" + sdk.sign_data(body)
    first = sdk._verify_and_return_sync_response(_get(url), "alipay_trade_pay_response")
    again = sdk._verify_and_return_sync_response(_get(url), "alipay_trade_pay_response")
    assert first["code"] == "10000"
    assert (again["code"], again["sub_code"], again["sub_msg"]) == (
        "40004",
        "ACQ.TRADE_HAS_SUCCESS",
        "交易已被支付",
    )
    assert len(server.channel.book) == 1


def test_a_replayed_refund_refunds_once(sdk: Any) -> None:
    """alipay.trade.refund: out_request_no identifies the refund request; the same one
    again answers the refund made (fund_change N: "本次退款是否发生了资金变化")."""
    _pay(sdk, "RR1", "5.00")
    one = sdk.api_alipay_trade_refund("2.00", out_trade_no="RR1", out_request_no="x")
    two = sdk.api_alipay_trade_refund("2.00", out_trade_no="RR1", out_request_no="x")
    assert (one["fund_change"], two["fund_change"]) == ("Y", "N")
    assert one["refund_fee"] == two["refund_fee"] == "2.00"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return bytes(answer.read()).decode("utf-8")


# -- async notifications -----------------------------------------------------------


def test_notify_is_signed_and_a_tampered_one_fails_verification(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    """异步通知说明 (opendocs.alipay.com/open/270/105902): "在通知返回参数列表中，除去 sign、
    sign_type 两个参数外，凡是通知返回回来的参数皆是待验签的参数" -- the merchant verifies and
    must refuse what does not verify. python-alipay-sdk's verify() is that check."""
    with Merchant(clock) as merchant:
        _pay(sdk, "N1", "7.00", notify_url=merchant.url)
        assert clock.wait_until(lambda: merchant.count() >= 1, 60)
        form = dict(merchant.received[0])
        assert merchant.content_types[0].startswith("application/x-www-form-urlencoded")
        assert (form["trade_status"], form["notify_type"]) == ("TRADE_SUCCESS", "trade_status_sync")
        sign = form.pop("sign")
        assert sdk.verify(dict(form), sign)
        tampered = dict(form, total_amount="0.01")
        assert not sdk.verify(tampered, sign)


def test_forged_and_duplicated_notifies(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    server.channel.faults.arm(AlipayFault("notify_duplicated"))
    server.channel.faults.arm(AlipayFault("notify_forged"))
    with Merchant(clock) as merchant:
        _pay(sdk, "N2", "7.00", notify_url=merchant.url)
        assert clock.wait_until(lambda: merchant.count() >= 3, 60)
        verdicts = []
        for form in merchant.received:
            form = dict(form)
            sign = form.pop("sign")
            verdicts.append((form["total_amount"], sdk.verify(form, sign)))
    assert sorted(verdicts) == [("7.00", True), ("7.00", True), ("700.00", False)]


def test_unanswered_notify_is_retried_on_alipays_schedule(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    """ "25 小时以内完成 8 次通知（通知的间隔频率一般是：4m,10m,10m,1h,2h,6h,15h）" --
    on the virtual clock, so the 25 hours take no time."""
    with Merchant(clock, reply="fail") as merchant:
        _pay(sdk, "N3", "1.00", notify_url=merchant.url)
        assert clock.wait_until(lambda: merchant.count() >= 8, 3 * 86_400)
        clock.advance(3 * 86_400)
        server.channel.notifier.run_due()
        times = [
            datetime.strptime(f["notify_time"], "%Y-%m-%d %H:%M:%S") for f in merchant.received
        ]
    assert len(times) == 8
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps == [240, 600, 600, 3600, 7200, 21600, 54000]
    for form in merchant.received:  # each retry re-signed with its own notify_time
        form = dict(form)
        sign = form.pop("sign")
        assert sdk.verify(form, sign)


def test_a_lost_notify_arrives_at_the_first_retry(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    server.channel.faults.arm(AlipayFault("notify_lost"))
    with Merchant(clock) as merchant:
        _pay(sdk, "N4", "1.00", notify_url=merchant.url)
        assert clock.wait_until(lambda: merchant.count() >= 1, 3600)
        assert merchant.received[0]["notify_time"] == "2026-01-15 10:34:00"  # + 4 min
    log = list(server.channel.notifier.log)
    assert [a.outcome for a in log] == ["lost", "success"]


# -- faults on the virtual clock ---------------------------------------------------


def test_user_paying_then_success(sdk: Any, server: AlipayServer, clock: VirtualClock) -> None:
    """alipay.trade.pay: code 10003 -- 等待用户付款; the merchant queries until a result."""
    server.channel.faults.arm(AlipayFault("user_paying", seconds=15))
    with clock.actor():  # time stands still between the calls
        first = _pay(sdk, "U1")
        assert first["code"] == "10003"
        assert sdk.api_alipay_trade_query(out_trade_no="U1")["trade_status"] == "WAIT_BUYER_PAY"
        clock.advance(15)
        assert sdk.api_alipay_trade_query(out_trade_no="U1")["trade_status"] == "TRADE_SUCCESS"


def test_user_paying_never_then_cancel(sdk: Any, server: AlipayServer, clock: VirtualClock) -> None:
    server.channel.faults.arm(AlipayFault("user_paying", then="never"))
    with clock.actor():
        assert _pay(sdk, "U2")["code"] == "10003"
        cancelled = sdk.api_alipay_trade_cancel(out_trade_no="U2")
        assert (cancelled["code"], cancelled["action"], cancelled["retry_flag"]) == (
            "10000",
            "close",
            "N",
        )
        assert sdk.api_alipay_trade_query(out_trade_no="U2")["trade_status"] == "TRADE_CLOSED"


def test_large_amount_waits_for_the_password(sdk: Any, clock: VirtualClock) -> None:
    with clock.actor():
        assert _pay(sdk, "U3", "2000.00")["code"] == "10003"
        clock.advance(10)
        assert sdk.api_alipay_trade_query(out_trade_no="U3")["trade_status"] == "TRADE_SUCCESS"


def test_system_error_then_query_finds_the_payment(sdk: Any, server: AlipayServer) -> None:
    """ACQ.SYSTEM_ERROR: "请立即调用查询订单API，查询当前订单的状态"."""
    server.channel.faults.arm(AlipayFault("system_error"))
    failed = _pay(sdk, "E1")
    assert (failed["code"], failed["sub_code"]) == ("40004", "ACQ.SYSTEM_ERROR")
    assert sdk.api_alipay_trade_query(out_trade_no="E1")["trade_status"] == "TRADE_SUCCESS"


@pytest.mark.parametrize(
    ("fault", "auth_code", "sub_code"),
    [
        ("balance_not_enough", AUTH_CODE, "ACQ.BUYER_BALANCE_NOT_ENOUGH"),
        ("expired_code", AUTH_CODE, "ACQ.PAYMENT_AUTH_CODE_INVALID"),
        (None, "1234567890", "ACQ.PAYMENT_AUTH_CODE_INVALID"),  # not an Alipay code
    ],
)
def test_pay_refusals_record_nothing(
    sdk: Any, server: AlipayServer, fault: str | None, auth_code: str, sub_code: str
) -> None:
    if fault:
        server.channel.faults.arm(AlipayFault.from_data({"kind": fault}))
    result = _pay(sdk, "F1", auth_code=auth_code)
    assert (result["code"], result["sub_code"]) == ("40004", sub_code)
    assert len(server.channel.book) == 0
    assert _pay(sdk, "F1")["code"] == "10000"  # the buyer tries again: paid


def test_slow_answer_costs_virtual_time(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    server.channel.faults.arm(AlipayFault("slow", seconds=45))
    start = clock.monotonic()
    assert _pay(sdk, "SL1")["code"] == "10000"
    assert clock.monotonic() - start >= 45


def test_fault_descriptions_are_checked() -> None:
    with pytest.raises(FaultError, match="expected one of slow"):
        AlipayFault.from_data({"kind": "meteor"})
    with pytest.raises(FaultError, match="seconds"):
        AlipayFault.from_data({"kind": "slow", "seconds": -1})


# -- close, cancel, bills ----------------------------------------------------------


def test_close_an_unpaid_precreate_and_not_a_paid_trade(sdk: Any, server: AlipayServer) -> None:
    """The trade of a precreated code exists once the buyer scans it: before, close (like
    query) answers ACQ.TRADE_NOT_EXIST; scanned and unpaid, it closes."""
    code = sdk.api_alipay_trade_precreate("possim test", "C1", "1.00")["qr_code"]
    _pay(sdk, "C2")
    assert sdk.api_alipay_trade_close(out_trade_no="C1")["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    server.channel.buyer_scans(code, pay=False)
    assert sdk.api_alipay_trade_close(out_trade_no="C1")["code"] == "10000"
    assert sdk.api_alipay_trade_query(out_trade_no="C1")["trade_status"] == "TRADE_CLOSED"
    paid = sdk.api_alipay_trade_close(out_trade_no="C2")
    assert paid["sub_code"] == "ACQ.TRADE_STATUS_ERROR"


def test_cancel_a_paid_trade_refunds_it_and_an_unknown_one_stays_unpayable(sdk: Any) -> None:
    _pay(sdk, "K1")
    assert sdk.api_alipay_trade_cancel(out_trade_no="K1")["action"] == "refund"
    assert sdk.api_alipay_trade_query(out_trade_no="K1")["trade_status"] == "TRADE_CLOSED"
    assert sdk.api_alipay_trade_cancel(out_trade_no="K-lost")["action"] == "close"
    assert _pay(sdk, "K-lost")["sub_code"] == "ACQ.TRADE_HAS_CLOSE"


def test_bill_download_url_serves_the_days_trades(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    _pay(sdk, "B1", "9.99")
    sdk.api_alipay_trade_refund("1.00", out_trade_no="B1", out_request_no="B1-r")
    today = sdk.server_api(
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": "2026-01-15"},
    )
    assert today["sub_code"] == "isp.bill_not_exist"  # a day's bill exists the next day
    clock.advance(86_400)
    answer = sdk.server_api(
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": "2026-01-15"},
    )
    with urllib.request.urlopen(answer["bill_download_url"], timeout=30) as got:
        archive = zipfile.ZipFile(io.BytesIO(got.read()))
    detail = next(n for n in archive.namelist() if n.endswith("_业务明细.csv"))
    text = archive.read(detail).decode("gbk")
    assert "B1" in text and ",9.99,9.99" in text and ",-1.00,-1.00" in text
    assert "#交易合计：1笔，退款合计：1笔" in text
    clock.advance(31)  # "有效时间为30秒"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(answer["bill_download_url"], timeout=30)


def test_signing_matches_the_sdks_own_string_to_sign(sdk: Any) -> None:
    params = {"b": "2", "a": "1", "sign": "x", "sign_type": "RSA2", "empty": ""}
    assert signing.sign_content(params) == "a=1&b=2&sign_type=RSA2"
    assert signing.sign_content(params, drop_sign_type=True) == "a=1&b=2"


# -- possim channels serve ---------------------------------------------------------


def test_channels_serve_alipay_for_an_sdk_then_ctrl_c(tmp_path: Path) -> None:
    """The command a developer starts: its printed gateway, app id and key files are all
    an SDK needs; Ctrl-C (SIGINT, even as a background job) stops it with status 0."""
    from tests.process_helpers import possim, start_like_a_background_job

    keys = tmp_path / "keys"
    command = start_like_a_background_job(
        possim("channels", "serve", "alipay", "--port", "0", "--key-dir", str(keys))
    )
    try:
        gateway = command.wait_for(r"gateway (http://127\.0\.0\.1:\d+/gateway\.do)").group(1)
        app_id = command.wait_for(r"test app_id (\d+); its private key (\S+)")
        public = command.wait_for(r"the simulator's public key (\S+)").group(1)
        sdk = alipay_sdk.AliPay(
            appid=app_id.group(1),
            app_notify_url=None,
            app_private_key_string=Path(app_id.group(2)).read_text(),
            alipay_public_key_string=Path(public).read_text(),
        )
        sdk._gateway = gateway
        assert _pay(sdk, "CLI1")["code"] == "10000"
        command.interrupt()
    finally:
        command.stop()
    assert command.process.returncode == 0, command.output


def test_a_gbk_request_is_decoded_with_its_charset(server: AlipayServer, key_dir: Path) -> None:
    """ "请确认charset参数放在了URL查询字符串中且各参数值使用charset参数指示的字符集编码"
    (invalid-signature troubleshooting): the gateway decodes with the request's charset and
    verifies over the string in that charset."""
    from urllib.parse import quote_plus

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from simulator.channels.keys import test_key

    params = {
        "app_id": "2021000000000001", "method": "alipay.trade.pay", "charset": "GBK",
        "sign_type": "RSA2", "timestamp": "2026-01-15 10:30:00", "version": "1.0",
        "biz_content": json.dumps(
            {"out_trade_no": "GBK1", "scene": "bar_code", "auth_code": AUTH_CODE,
             "subject": "咖啡", "total_amount": "5.00"}, ensure_ascii=False),
    }  # fmt: skip
    content = signing.sign_content(params)
    key = test_key("alipay-test-app", key_dir).private_key
    raw = key.sign(content.encode("gbk"), padding.PKCS1v15(), hashes.SHA256())
    params["sign"] = base64.b64encode(raw).decode()
    body = "&".join(f"{k}={quote_plus(v, encoding='gbk')}" for k, v in params.items())
    request = urllib.request.Request(server.gateway_url, data=body.encode("ascii"))
    request.add_header("Content-Type", "application/x-www-form-urlencoded;charset=GBK")
    with urllib.request.urlopen(request, timeout=30) as answer:
        node = json.loads(answer.read())["alipay_trade_pay_response"]
    assert node["code"] == "10000", node
    trade = server.channel.book.find("2021000000000001", "GBK1", None)
    assert trade is not None and trade.subject == "咖啡"


def test_refunds_are_notified_too(sdk: Any, clock: VirtualClock) -> None:
    """A partial refund notifies TRADE_SUCCESS with refund_fee and out_biz_no; the refund
    of the rest, TRADE_CLOSED (异步通知: trade_status_sync on every change of the trade)."""
    with Merchant(clock) as merchant:
        _pay(sdk, "NR1", "10.00", notify_url=merchant.url)
        sdk.api_alipay_trade_refund("3.00", out_trade_no="NR1", out_request_no="a")
        sdk.api_alipay_trade_refund("7.00", out_trade_no="NR1", out_request_no="b")
        assert clock.wait_until(lambda: merchant.count() >= 3, 60)
        seen = [
            (f["trade_status"], f.get("refund_fee"), f.get("out_biz_no")) for f in merchant.received
        ]
    assert seen == [
        ("TRADE_SUCCESS", None, None),
        ("TRADE_SUCCESS", "3.00", "a"),
        ("TRADE_CLOSED", "10.00", "b"),
    ]


def test_calls_and_notifications_reach_the_event_stream_without_secrets(
    clock: VirtualClock, key_dir: Path
) -> None:
    from simulator.channels.alipay.channel import AlipayChannel
    from simulator.channels.events import ChannelCall, ChannelNotify
    from simulator.events import EventBus

    bus = EventBus(clock)
    running = AlipayServer(AlipayChannel.with_test_keys(clock, key_dir=key_dir, bus=bus))
    running.start()
    try:
        sdk = sdk_for(running, key_dir)
        with Merchant(clock) as merchant:
            _pay(sdk, "EV1", notify_url=merchant.url)
            _pay(sdk, "EV1")
            assert clock.wait_until(lambda: len(bus.of(ChannelNotify)) >= 1, 60)
    finally:
        running.stop()
    calls = [e.payload.summary() for e in bus.of(ChannelCall)]
    assert calls == [
        "alipay.trade.pay EV1: 10000",
        "alipay.trade.pay EV1: 40004 ACQ.TRADE_HAS_SUCCESS",
    ]
    assert [e.payload.outcome for e in bus.of(ChannelNotify)] == ["success"]
    text = json.dumps([[e.payload.summary(), e.payload.detail()] for e in bus.of(ChannelCall)])
    assert AUTH_CODE not in text and "sign" not in text


def test_an_unpaid_trade_closes_when_its_timeout_express_runs_out(
    sdk: Any, server: AlipayServer, clock: VirtualClock
) -> None:
    """timeout_express: "该笔订单允许的最晚付款时间，逾期将关闭交易" -- and trade_status
    TRADE_CLOSED "未付款交易超时关闭" is notified."""
    server.channel.faults.arm(AlipayFault("user_paying", then="never"))
    with Merchant(clock) as merchant, clock.actor():
        assert _pay(sdk, "TO1", timeout_express="5m", notify_url=merchant.url)["code"] == "10003"
        clock.advance(299)
        assert sdk.api_alipay_trade_query(out_trade_no="TO1")["trade_status"] == "WAIT_BUYER_PAY"
        clock.advance(1)
        assert sdk.api_alipay_trade_query(out_trade_no="TO1")["trade_status"] == "TRADE_CLOSED"
        assert clock.wait_until(lambda: merchant.count() >= 1, 60)
        assert merchant.received[0]["trade_status"] == "TRADE_CLOSED"
    bad = _pay(sdk, "TO2", timeout_express="1.5h")
    assert bad["sub_code"] == "ACQ.INVALID_PARAMETER"
