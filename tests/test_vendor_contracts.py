"""Lakala, Sunmi L3, UMS and WangPOS acquiring apps, called as the apps that call
them do; each answer checked key by key, type by type, code by code.

Sources (quoted at each test): Lakala -- gongjr/KXMealOrderApp
``biz/entity/lakala/*.java`` and ``biz/model/LakalaController.java`` (lkl_api 1.11);
Sunmi -- chuwuwang/sunmi-export-api-demo ``com/sm/l3/demo/*.java`` and Sunmi's
appendix C; UMS -- Vitaminzm/WangPos ``CheckOutActivity.java`` / ``ConstantData.java``
and com.ums.AppHelper; WangPOS -- Vitaminzm/WangPos ``utils/CashierSign.java``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sim_helpers import gateway_requests
from vendor_helpers import DEBIT, card_paid, cardholder_cancels, send, vendor_shop

from simulator.terminal.contract import IntentRequest, profile_for

# -- Lakala ------------------------------------------------------------------------

LAKALA = "com.lkl.cloudpos.payment/com.lkl.cloudpos.payment.activity.MainMenuActivity"


def lakala_card_sale(price: str = "100.01") -> IntentRequest:
    """LakalaController.startLakalaWithCardForResult: its LakalaInfo extras."""
    extras = {
        "msg_tp": "0200",  # MsgTypeKey.Request
        "proc_tp": "00",  # ProTypeKey.Consume
        "proc_cd": "000000",  # ProCodeKey.Consume
        "pay_tp": "0",  # StartPayTypeKey.Card
        "appid": "com.asiainfo.mealorder",
        "time_stamp": "1460361600000",  # "" + new Date().getTime(), as the app sends it
        "amt": price,
        "order_no": "18512543197",
        "order_info": "订单结算测试",
    }
    return IntentRequest(extras, component=LAKALA)


def test_lakala_card_sale_answers_result_ok_with_its_keys(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "lakala") as sim:
        result = send(sim, lakala_card_sale(), *card_paid())
    assert result.result_code == "RESULT_OK"
    assert all(isinstance(value, str) for value in result.extras.values())
    assert result.extras["msg_tp"] == "0210"  # TradeKey Msg_tp: 应答 0210
    assert len(result.extras["refernumber"]) == 12  # Refernumber: 交易成功返回
    detail = json.loads(result.extras["txndetail"])
    # DetailInfo.java (附录 B): exactly these.
    assert set(detail) == {"merid", "termid", "batchno", "systraceno", "authcode", "orderid_scan"}


def test_lakala_cancel_is_result_canceled_and_failure_is_minus_two(tmp_path: Path) -> None:
    # LakalaController.onActivityResult: RESULT_CANCELED 支付取消, -2 交易失败.
    with vendor_shop(tmp_path, "lakala") as sim:
        cancelled = send(sim, lakala_card_sale(), *cardholder_cancels())
    with vendor_shop(tmp_path / "2", "lakala", seed=2) as sim:
        declined = send(sim, lakala_card_sale("20.51"), *card_paid())
    assert cancelled.result_code == "RESULT_CANCELED" and set(cancelled.extras) == {"reason"}
    assert declined.result_code == "-2" and "51" in declined.extras["reason"]


def test_lakala_refuses_a_fen_amount_with_its_response_code(tmp_path: Path) -> None:
    # TradeKey Amt: 示例 100.01; Reason: 应答码(2位):应答码说明 -- 13 无效金额 (附录 C).
    with vendor_shop(tmp_path, "lakala") as sim:
        result = send(sim, lakala_card_sale("000000010001"))
    assert result.result_code == "-2"
    assert result.extras["reason"].startswith("13:无效金额: amt='000000010001'")


# -- Sunmi L3 ----------------------------------------------------------------------


def sunmi_sale(amount: Any = 10001) -> IntentRequest:
    """SaleActivity.onClick with BaseActivity.addUserCustomTicketContent: typed extras."""
    extras = {
        "appId": "com.sm.l3.demo",
        "amount": amount,  # long, fen
        "transId": "T0001",
        "transType": 0,
        "paymentType": 0,  # rb_bank_card
        "printInfo": "",
        "printInfo2": "",
        "isPrintTicket": True,
        "printMerchantInfo": "",
        "printMerchantInfo2": "",
    }
    return IntentRequest(extras, action="sunmi.payment.L3")


def test_sunmi_answers_with_its_result_broadcast_and_typed_extras(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "sunmi") as sim:
        result = send(sim, sunmi_sale(), *card_paid())
    assert result.broadcast == "sunmi.payment.L3.RESULT" and result.result_code is None
    extras = result.extras
    assert extras["resultCode"] == 0 and type(extras["resultCode"]) is int
    assert extras["amount"] == 10001 and type(extras["amount"]) is int  # long
    assert extras["transType"] == 0 and extras["transId"] == "T0001"  # echoed
    assert extras["cardNo"] == DEBIT.masked_pan
    assert {"voucherNo", "batchNo", "referenceNo", "authNo", "terminalId", "merchantId"} <= set(
        extras
    )
    assert result.to_json() == {"broadcast": "sunmi.payment.L3.RESULT", "extras": dict(extras)}


def test_sunmi_cancel_and_failure_carry_its_error_codes(tmp_path: Path) -> None:
    # Appendix C: 418 交易取消, 401 交易失败.
    with vendor_shop(tmp_path, "sunmi") as sim:
        cancelled = send(sim, sunmi_sale(), *cardholder_cancels())
    with vendor_shop(tmp_path / "2", "sunmi", seed=2) as sim:
        declined = send(sim, sunmi_sale(2051), *card_paid())
    assert cancelled.extras["resultCode"] != 0 and cancelled.extras["errorCode"] == 418
    assert declined.extras["errorCode"] == 401 and "51" in declined.extras["errorMsg"]
    assert type(declined.extras["errorCode"]) is int


def test_sunmi_refuses_an_amount_sent_as_a_string(tmp_path: Path) -> None:
    # SaleActivity puts a long; getLongExtra on a String reads 0: appendix C 409 无效的金额.
    with vendor_shop(tmp_path, "sunmi") as sim:
        result = send(sim, sunmi_sale("100.01"))
        assert gateway_requests(sim) == []
    assert result.extras["errorCode"] == 409
    assert "amount='100.01': expected a long extra" in result.extras["errorMsg"]


def test_sunmi_void_without_its_voucher_number_is_refused(tmp_path: Path) -> None:
    # RevokeActivity: transType 1 with oriVoucherNo; appendix C 406 无效的原交易凭证号.
    request = IntentRequest(
        {"appId": "com.sm.l3.demo", "transId": "T2", "transType": 1, "isManagePwd": False},
        action="sunmi.payment.L3",
    )
    with vendor_shop(tmp_path, "sunmi") as sim:
        result = send(sim, request)
    assert result.extras["errorCode"] == 406
    assert "oriVoucherNo: required for 撤销" in result.extras["errorMsg"]


# -- UMS ---------------------------------------------------------------------------


def ums_call(app_name: str, trans_id: str, trans_data: dict[str, Any]) -> IntentRequest:
    """AppHelper.callTrans(activity, appName, transId, transData): its Intent."""
    extras = {
        "appName": app_name,
        "transId": trans_id,
        "transData": json.dumps(trans_data, ensure_ascii=False),
    }
    return IntentRequest(
        extras,
        component="com.ums.tss.mastercontrol/com.ums.anypay.AnyPay",
        action="com.ums.transcontroller.call",
    )


def test_ums_sale_answers_a_result_json(tmp_path: Path) -> None:
    # CheckOutActivity: amt in fen as a string, extOrderNo; result {resultCode "0", transData}.
    request = ums_call("银行卡收款", "消费", {"amt": "10001", "extOrderNo": "E1", "appId": "x"})
    with vendor_shop(tmp_path, "ums") as sim:
        result = send(sim, request, *card_paid())
    answer = json.loads(result.extras["result"])
    assert set(answer) == {"appName", "transId", "resultCode", "resultMsg", "transData"}
    assert (answer["appName"], answer["transId"], answer["resultCode"]) == (
        "银行卡收款",
        "消费",
        "0",
    )
    data = answer["transData"]
    assert data["resCode"] == "00" and data["amt"] == "10001" and data["extOrderNo"] == "E1"
    assert data["cardNo"] == DEBIT.masked_pan
    assert all(isinstance(value, str) for value in data.values())


def test_ums_routes_the_prepaid_card_app_name_to_a_card_sale(tmp_path: Path) -> None:
    # appName "预付卡": the prepaid-card application of the same terminal.
    request = ums_call("预付卡", "消费", {"amt": "1234", "extOrderNo": "E2"})
    with vendor_shop(tmp_path, "ums") as sim:
        result = send(sim, request, *card_paid())
    answer = json.loads(result.extras["result"])
    assert answer["appName"] == "预付卡" and answer["transData"]["resCode"] == "00"


def test_ums_cancel_failure_and_yuan_refusal(tmp_path: Path) -> None:
    request = ums_call("银行卡收款", "消费", {"amt": "2051", "extOrderNo": "E3"})
    with vendor_shop(tmp_path, "ums") as sim:
        cancelled = send(sim, request, *cardholder_cancels())
        # ConstantData / CheckOutActivity convert yuan to fen: "20.51" is misread.
        refused = send(sim, ums_call("银行卡收款", "消费", {"amt": "20.51", "extOrderNo": "E4"}))
    with vendor_shop(tmp_path / "2", "ums", seed=2) as sim:
        declined = send(sim, request, *card_paid())
    answers = [json.loads(r.extras["result"]) for r in (cancelled, declined, refused)]
    assert [a["resultCode"] for a in answers] == ["-1", "-3", "-4"]
    assert "51" in answers[1]["resultMsg"]
    assert "amt='20.51': expected fen" in answers[2]["resultMsg"]


# -- WangPOS -----------------------------------------------------------------------

KEY = "possim-test-cashier-key"


def cashier_sign(key: str, data: dict[str, str]) -> str:
    """CashierSign.getSign, line for line: sorted k=v&, then key=KEY, MD5, lower hex."""
    builder = "".join(f"{name}={data[name]}&" for name in sorted(data))
    builder += f"key={key}"
    return hashlib.md5(builder.encode("utf-8")).hexdigest()


def wangpos_request(
    pay_type: str = "1006", total_fee: str = "10001", key: str = KEY
) -> IntentRequest:
    """CashierSign.sign's dataMap, signed, as RequestInvoke's params."""
    data = {
        "bp_id": "possim-bp-0001",
        "channel": "POS",
        "pay_type": pay_type,
        "out_trade_no": "W1",
        "body": "test",
        "total_fee": total_fee,
        "input_charset": "UTF-8",
    }
    data["sign"] = cashier_sign(key, data)
    extras = {
        "pkgName": "com.symboltech.wangpos",
        "sdCode": "CASH002",  # CashierSign.Cashier_sdCode
        "bpId": "possim-bp-0001",
        "launchType": 0,
        "seqNo": "1",
        "params": json.dumps(data),
    }
    return IntentRequest(extras, uri="bizservice://cn.weipass.cashier/CASH002")


def test_wangpos_signed_card_payment_answers_on_response_data(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "wangpos") as sim:
        result = send(sim, wangpos_request(), *card_paid())
    assert result.result_code == "REQ_SUCCESS"
    extras = result.extras
    assert set(extras) == {
        "errCode", "errMsg", "out_trade_no", "trade_status", "cashier_trade_no", "pay_type",
        "pay_info",
    }  # fmt: skip
    assert extras["errCode"] == "0" and extras["out_trade_no"] == "W1"
    assert extras["pay_type"] == "1006"  # 银行卡


def test_wangpos_cancel_failure_and_a_forged_signature(tmp_path: Path) -> None:
    with vendor_shop(tmp_path, "wangpos") as sim:
        cancelled = send(sim, wangpos_request(), *cardholder_cancels())
        forged = send(sim, wangpos_request(key="not-the-key"))
        assert len(gateway_requests(sim)) == 0
    with vendor_shop(tmp_path / "2", "wangpos", seed=2) as sim:
        declined = send(sim, wangpos_request(total_fee="2051"), *card_paid())
    assert (cancelled.result_code, cancelled.extras["errCode"]) == ("REQ_SUCCESS", "-1")
    assert (declined.result_code, declined.extras["errCode"]) == ("REQ_SUCCESS", "-3")
    assert forged.result_code == "REQ_ERR_INVAILD_PARAM"
    assert "sign: does not match" in forged.extras["errMsg"]


def test_each_vendor_is_picked_by_its_addressing() -> None:
    requests = {
        "lakala": lakala_card_sale(),
        "sunmi": sunmi_sale(),
        "ums": ums_call("银行卡收款", "消费", {}),
        "wangpos": wangpos_request(),
    }
    for vendor, request in requests.items():
        picked = profile_for(request)
        assert picked is not None and picked.name == vendor
