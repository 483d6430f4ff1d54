"""Newland's acquiring app, called as its published contract says.

Source for every request and expected key here: star-pos/APIDocument
``pos-invoke/index.md`` (commit 0746363; http://starpos.com.cn/doc/pos-invoke/):
the 交易类 table, the 调用样例 (the sale below is its sample, byte for byte but the
order number), the 附录 交易详情JSON结构 and 交易处理码.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qr_helpers import ALIPAY
from sim_helpers import WIND_DOWN, gateway_requests, insert, remove
from vendor_helpers import DEBIT, card_paid, cardholder_cancels, send, vendor_shop

from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    IntentRequest,
    PaymentOrder,
    profile_for,
)

COMPONENT = "com.newland.caishen/com.newland.caishen.ui.activity.MainActivity"
# 交易详情JSON结构: exactly these keys.
TXNDETAIL_KEYS = {
    "mername", "merid", "termid", "acqno", "iisno", "expdate", "batchno", "systraceno",
    "authcode", "orderid_scan", "translocaltime", "translocaldate", "transamount",
    "priaccount", "refernumber", "pay_tp",
}  # fmt: skip
# 交易类: returned only, top level (not inside txndetail).
TOP_LEVEL_KEYS = {"cardtype", "sysoldtraceno", "sysoldreferno", "sysolddate", "oprId"}
SOURCE = "star-pos/APIDocument pos-invoke/index.md"


def documented_sale(**change: str) -> IntentRequest:
    """调用样例: the sale as Newland's sample code builds it (every extra a String)."""
    extras = {
        "msg_tp": "0200",
        "pay_tp": "0",
        "proc_tp": "00",
        "proc_cd": "000000",
        "amt": "100.01",
        "order_no": "A20150930035201",
        "appid": "com.nld.trafficmanage",
        "time_stamp": "20150930035201",
        "print_info": "订单商品明细单价等xxxxxx",
        **change,
    }
    return IntentRequest(extras, component=COMPONENT)


def test_the_documented_sale_answers_with_the_documented_keys(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "newland") as sim:
        result = send(sim, documented_sale(), *card_paid())
    assert result.result_code == "RESULT_OK"
    extras = result.extras
    assert all(isinstance(value, str) for value in extras.values())  # all String extras
    assert extras["msg_tp"] == "0210"
    assert set(extras) >= TOP_LEVEL_KEYS
    assert extras["cardtype"] == "00"  # 借记卡: the UnionPay debit card
    detail = json.loads(extras["txndetail"])
    assert set(detail) == TXNDETAIL_KEYS
    assert all(isinstance(value, str) for value in detail.values())
    assert detail["transamount"] == "100.01"
    assert detail["pay_tp"] == "0"  # reply: 0 银行卡
    assert detail["priaccount"] == DEBIT.masked_pan  # type: ignore[attr-defined]
    assert len(detail["refernumber"]) == 12
    assert extras["time_stamp"].startswith("2026") and len(extras["time_stamp"]) == 14


def test_the_cardholder_cancelling_is_result_canceled_with_a_reason(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "newland") as sim:
        result = send(sim, documented_sale(), *cardholder_cancels())
    assert result.result_code == "RESULT_CANCELED"
    assert set(result.extras) == {"reason"}  # 失败原因: 仅在调用返回失败时存在
    assert "cancelled by the cardholder" in result.extras["reason"]


def test_a_declined_sale_is_result_canceled_with_the_host_code(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "newland", seed=2) as sim:
        result = send(sim, documented_sale(amt="20.51"), *card_paid())  # .51: declined 51
    assert result.result_code == "RESULT_CANCELED"
    assert "51" in result.extras["reason"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        # 交易金额: yuan, 示例 100.01 -- a 12-digit fen amount is misread.
        ({"amt": "000000010001"}, "amt='000000010001': expected yuan like '100.01'"),
        # 交易处理码: only the 附录's codes.
        ({"proc_cd": "123456"}, "proc_cd='123456' is not one of 000000, 200000"),
        # 支付方式: 不为空时要与交易处理码保持一致.
        ({"pay_tp": "1"}, "pay_tp='1' contradicts proc_cd='000000' (消费 (000000))"),
        # 凭证号: 消费撤销时，传入做撤销.
        ({"proc_cd": "200000", "amt": ""}, "systraceno: required for 消费撤销 (200000)"),
        ({"msg_tp": "0100"}, "msg_tp='0100' is not one of"),
        ({"proc_tp": "01"}, "proc_tp must be '00', got '01'"),
        # 打印信息: 100汉字以内.
        ({"print_info": "字" * 101}, "print_info: 101 characters, at most 100"),
    ],
)
def test_a_request_newland_would_refuse_gets_its_refusal_naming_key_and_rule(
    tmp_path: Path, change: dict[str, str], problem: str
) -> None:
    request = documented_sale(**change)
    with pytest.raises(ContractViolation) as caught:
        IntentContract.load("newland").parse_request(request)
    message = str(caught.value)
    assert problem in message and message.endswith(f"({SOURCE})")
    assert "\n" not in message
    with vendor_shop(tmp_path, "newland") as sim:
        result = send(sim, request)
        assert gateway_requests(sim) == []  # refused before anything is sent
    assert result.result_code == "RESULT_CANCELED"
    assert set(result.extras) == {"reason"}
    assert problem in result.extras["reason"]


def test_a_request_to_another_component_is_refused(tmp_path: Path) -> None:
    # possim's old, invented component: no Newland terminal answers it.
    request = IntentRequest(documented_sale().extras, component="com.newland.pospp/.PayActivity")
    with vendor_shop(tmp_path, "newland") as sim:
        result = send(sim, request)
    assert result.result_code == "RESULT_CANCELED"
    assert "com.newland.pospp/.PayActivity" in result.extras["reason"]


def test_the_profile_is_picked_by_the_request_addressing() -> None:
    picked = profile_for(documented_sale())
    assert picked is not None and picked.name == "newland"
    assert profile_for(IntentRequest({}, component="com.newland.pospp/.PayActivity")) is None


def test_the_cashier_side_builds_the_documented_request() -> None:
    contract = IntentContract.load("newland")
    order = PaymentOrder("card", "sale", 10001, "A1", "20150930035201", caller="com.x")
    request = contract.build_request(order)
    assert request.component == COMPONENT
    assert request.extras == {
        "msg_tp": "0200",
        "pay_tp": "0",
        "proc_tp": "00",
        "proc_cd": "000000",
        "amt": "100.01",
        "order_no": "A1",
        "appid": "com.x",
        "time_stamp": "20150930035201",
    }
    void = contract.build_request(
        PaymentOrder("card", "void", 0, "A2", "20150930035201", orig_order_no="A1", orig_stan="7")
    )
    assert void.extras["proc_cd"] == "200000" and void.extras["systraceno"] == "7"
    assert "amt" not in void.extras
    # h-preauth's family: Newland's codes (附录 交易处理码).
    codes = {
        op: contract.build_request(PaymentOrder("card", op, 100, "A3", "")).extras["proc_cd"]
        for op in ("preauth", "preauth_completion", "preauth_void")
    }
    assert codes == {"preauth": "300000", "preauth_completion": "330000", "preauth_void": "400000"}


def _qr_sale(sim: object) -> str:
    """A RMB 12.34 Alipay payment by scanned code; its order number."""
    from simulator.shop import Shop

    assert isinstance(sim, Shop)
    with sim.clock.actor():
        sale = sim.hands.start_sale(1234, "scan")
        sim.clock.settle()
        sim.hands.scan(ALIPAY)
        result = sale.wait(WIND_DOWN)
    assert result is not None and result.approved
    return result.order.order_no


def qr_refund(order_no: str, amt: str = "") -> IntentRequest:
    """扫码退款 as the 分类说明 sample: 680000, pay_tp 1, the order number; amt empty."""
    extras = {
        "msg_tp": "0200",
        "pay_tp": "1",
        "proc_tp": "00",
        "proc_cd": "680000",
        "order_no": order_no,
        "appid": "com.nld.trafficmanage",
        "amt": amt,
    }
    return IntentRequest(extras, component=COMPONENT)


@pytest.mark.parametrize(("days_later", "state"), [(0, "revoked"), (1, "refund")])
def test_a_qr_refund_with_an_empty_amount_refunds_in_full(
    tmp_path: Path, days_later: int, state: str
) -> None:
    # 交易金额, 用法二: 扫码退货如该字段传入值为空，则默认全额退款. The same day possim's
    # app reverses the payment (扫码撤销); later it refunds it in full.
    with vendor_shop(tmp_path, "newland") as sim:
        order_no = _qr_sale(sim)
        with sim.clock.actor():
            sim.hands.advance(days_later * 86400)
        result = send(sim, qr_refund(order_no))
        entries = sim.terminal.journal.qr_entries()
    assert result.result_code == "RESULT_OK"
    detail = json.loads(result.extras["txndetail"])
    assert detail["transamount"] == "12.34"
    assert detail["pay_tp"] == "2"  # reply: 2 支付宝
    undo = entries[-1]
    assert undo.out_trade_no == order_no and undo.amount_fen == 1234
    assert undo.state.value == state.upper() or undo.state.value.lower() == state


def test_a_qr_refund_with_an_amount_refunds_that_much(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "newland") as sim:
        order_no = _qr_sale(sim)
        result = send(sim, qr_refund(order_no, amt="5.00"))
        entries = sim.terminal.journal.qr_entries()
    assert result.result_code == "RESULT_OK"
    assert json.loads(result.extras["txndetail"])["transamount"] == "5.00"
    assert entries[-1].operation == "refund" and entries[-1].amount_fen == 500


def test_500000_with_a_card_refunds_online(tmp_path: Path) -> None:
    # 500000 联机退货: the card is presented and the host is asked (possim's 0220).
    with vendor_shop(tmp_path, "newland") as sim:
        sale = send(sim, documented_sale(amt="20.00"), *card_paid())
        order_no = json.loads(sale.extras["txndetail"])["orderid_scan"]
        refund = documented_sale(proc_cd="500000", amt="8.00", order_no=order_no)
        result = send(sim, refund, insert(DEBIT), remove)
        advices = gateway_requests(sim, "0220")
    assert result.result_code == "RESULT_OK"
    assert json.loads(result.extras["txndetail"])["transamount"] == "8.00"
    assert [advice["4"] for advice in advices] == ["000000000800"]


def test_the_query_family_answers_0310_from_the_terminal_record(tmp_path: Path) -> None:
    # 查询类 (终端本地数据查询): msg_tp 0300, pay_tp 0 银行卡, order_no -> 0310.
    def query(order_no: str) -> IntentRequest:
        extras = {"msg_tp": "0300", "pay_tp": "0", "order_no": order_no, "appid": "com.x"}
        return IntentRequest(extras, component=COMPONENT)

    with vendor_shop(tmp_path, "newland") as sim:
        sale = send(sim, documented_sale(), *card_paid())
        found = send(sim, query("A20150930035201"))
        missing = send(sim, query("NOSUCHORDER"))
        assert len(gateway_requests(sim)) == 1  # the sale's: a query is local
    assert found.result_code == "RESULT_OK" and found.extras["msg_tp"] == "0310"
    got, paid = json.loads(found.extras["txndetail"]), json.loads(sale.extras["txndetail"])
    assert (got["systraceno"], got["refernumber"], got["transamount"]) == (
        paid["systraceno"],
        paid["refernumber"],
        "100.01",
    )
    assert missing.result_code == "RESULT_CANCELED"
    assert "NOSUCHORDER" in missing.extras["reason"]
