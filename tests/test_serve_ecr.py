"""The ECR door: a till script speaks Newland's PC interface to the served terminal
over TCP and over a pty (a USB-serial till), while the test is the customer.

Newland's document (star-pos/APIDocument pos-invoke/pcInvokePOS.md, "星POS收单应用调用
（PC）") fixes the JSON: request ``msgTp payTp procTp procCd systraceNo amt orderNo
batchBillNo``; reply ``msgTp`` 0210, ``code`` -1 failed / 0 succeeded, ``message``, and
on success ``payTp timeStamp merName merId termId batchNo traceNo transDate transTime
transAmount operator``, plus for bank cards ``referNo acqNo iisNo expDate authCode
cardNo cardType oldTransNo oldReferNo oldTransDate`` and for scanned payments
``scanNo``. The framing (one JSON object per line) is possim's, docs/cashier_apps.md.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from process_helpers import DEADLINE
from serve_helpers import ShopClient

from simulator.serve.ecr import MAX_LINE
from simulator.serve.server import ServedShop, ServeOptions
from simulator.terminal.config import TerminalConfig

COMMON = ("msgTp", "code", "message", "payTp", "timeStamp", "merName", "merId", "termId",
          "batchNo", "traceNo", "transDate", "transTime", "transAmount", "operator")  # fmt: skip
CARD_ONLY = ("referNo", "acqNo", "iisNo", "expDate", "authCode", "cardNo", "cardType",
             "oldTransNo", "oldReferNo", "oldTransDate")  # fmt: skip
PAYMENT_CODE = "134567890123456789"  # a WeChat payment code (scenarios/qr_wechat.yaml)

Till = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedShop]:
    options = ServeOptions(port=0, ecr_port=0, ecr_pty=True)
    logged: list[str] = []
    with ServedShop(TerminalConfig.load(), tmp_path, options, logged.append) as shop:
        yield shop


def tcp_till(shop: ServedShop) -> Till:
    assert shop.ecr_tcp is not None
    connection = socket.create_connection(shop.ecr_tcp.address, timeout=DEADLINE)
    reader = connection.makefile("rb")

    def send(request: dict[str, Any]) -> dict[str, Any]:
        connection.sendall(json.dumps(request).encode() + b"\n")
        reply: dict[str, Any] = json.loads(reader.readline())
        return reply

    return send


def pty_till(shop: ServedShop) -> Till:
    assert shop.ecr_pty is not None
    port = serial.Serial(shop.ecr_pty.path, 9600, timeout=DEADLINE)

    def send(request: dict[str, Any]) -> dict[str, Any]:
        port.write(json.dumps(request, ensure_ascii=False).encode() + b"\r\n")
        reply: dict[str, Any] = json.loads(port.readline())
        return reply

    return send


TILLS = {"tcp": tcp_till, "pty": pty_till}


def in_background(till: Till, request: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """Send ``request`` from another thread (the till waits for the payment); the reply."""
    replies: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: replies.append(till(request)), daemon=True)
    thread.start()

    def reply() -> dict[str, Any]:
        thread.join(DEADLINE)
        assert replies, "the till got no reply"
        return replies[0]

    return reply


@pytest.mark.parametrize("transport", TILLS)
def test_a_till_sells_by_card(served: ServedShop, transport: str) -> None:
    till, shop = TILLS[transport](served), ShopClient(served.url)
    request = {"msgTp": "0200", "payTp": "0", "procTp": "00", "procCd": "000000",
               "amt": "12.34", "orderNo": "TILL0001"}  # fmt: skip
    reply = in_background(till, request)
    shop.pay_by_card("unionpay_debit", "683915")
    answer = reply()
    assert answer["code"] == "0", answer
    assert set(answer) == set(COMMON + CARD_ONLY)
    assert all(isinstance(value, str) for value in answer.values())
    assert answer["msgTp"] == "0210" and answer["message"] == "交易成功"
    assert answer["payTp"] == "0" and answer["transAmount"] == "12.34"
    assert answer["cardNo"] == "621483******3655" and answer["cardType"] == "00"
    assert len(answer["referNo"]) == 12 and answer["authCode"]
    assert [r["kind"] for r in shop.get("/v1/view/receipts")] == ["sale", "sale"]
    assert [s["text"] for s in shop.get("/v1/view/speech")] == ["收款成功，十二点三四元"]
    journal = shop.get("/v1/view/journal")["card"]
    assert [(e["order_no"], e["stan"]) for e in journal] == [("TILL0001", answer["traceNo"])]


@pytest.mark.parametrize("transport", TILLS)
def test_a_till_takes_a_qr_payment(served: ServedShop, transport: str) -> None:
    till, shop = TILLS[transport](served), ShopClient(served.url)
    request = {"msgTp": "0200", "payTp": "1", "procTp": "00", "procCd": "660000",
               "amt": "12.34", "orderNo": "TILLQR01"}  # fmt: skip
    reply = in_background(till, request)
    shop.wait_for_screen("scan_code")
    shop.act("scan", code=PAYMENT_CODE)
    answer = reply()
    assert answer["code"] == "0", answer
    assert set(answer) == {*COMMON, "scanNo"}
    assert answer["payTp"] == "1"  # 返回参数 payTp: 1 WeChat
    assert answer["scanNo"] == "TILLQR01" and answer["transAmount"] == "12.34"
    assert [s["text"] for s in shop.get("/v1/view/speech")] == ["微信收款十二点三四元"]
    assert [e["out_trade_no"] for e in shop.get("/v1/view/journal")["qr"]] == ["TILLQR01"]


def test_a_request_against_the_interface_gets_code_minus_one_and_the_log_names_the_key(
    served: ServedShop,
) -> None:
    till = tcp_till(served)
    sale = {"msgTp": "0200", "procTp": "00"}
    refusals = [
        (
            {"payTp": "0", "procCd": "660000", "amt": "1.00"},
            "payTp='0' contradicts procCd='660000'",
        ),
        ({"payTp": "", "procCd": "000000", "amt": "12.345"}, "amt='12.345' must be yuan"),
        ({"procCd": "200000"}, "systraceNo: a void (procCd 200000) needs"),
        ({"procCd": "123456", "amt": "1.00"}, "procCd='123456' is not one of"),
        ({"procCd": "000000", "amt": 12.34}, "amt: every field is a String"),
    ]
    for request, rule in refusals:
        answer = till({**sale, **request})
        assert answer == {"msgTp": "0210", "code": "-1", "message": answer["message"]}
        assert rule in answer["message"]
        logged = [e for e in served.shop.view.events() if e.kind == "ecr_refused"]
        assert rule in logged[-1].summary
    assert not served.shop.view.busy
    # A line over the limit is refused, and the connection is closed after it.
    assert tcp_till(served)({"orderNo": "x" * MAX_LINE})["code"] == "-1"


def test_the_ecr_door_stays_on_loopback_when_the_api_is_exposed(tmp_path: Path) -> None:
    options = ServeOptions(host="0.0.0.0", port=0, token="s3cret", ecr_port=0)
    with ServedShop(TerminalConfig.load(), tmp_path, options, lambda line: None) as shop:
        assert shop.ecr_tcp is not None
        assert shop.ecr_tcp.address[0] == "127.0.0.1"  # the PC interface has no token


def test_a_till_voids_a_card_sale_by_its_voucher_number(served: ServedShop) -> None:
    till, shop = tcp_till(served), ShopClient(served.url)
    sale = {"msgTp": "0200", "payTp": "0", "procTp": "00", "procCd": "000000",
            "amt": "12.34", "orderNo": "TILLV001"}  # fmt: skip
    reply = in_background(till, sale)
    shop.pay_by_card("unionpay_debit", "683915")
    sold = reply()
    assert sold["code"] == "0", sold
    # 消费撤销 (200000): systraceNo, "消费撤销时，传入做撤销" (pcInvokePOS.md, 请求参数).
    voided = till({"msgTp": "0200", "payTp": "0", "procTp": "00", "procCd": "200000",
                   "systraceNo": sold["traceNo"]})  # fmt: skip
    assert voided["code"] == "0", voided
    assert set(voided) == set(COMMON + CARD_ONLY)
    assert voided["oldTransNo"] == sold["traceNo"] and voided["oldReferNo"] == sold["referNo"]
    assert voided["transAmount"] == "12.34"
    journal = shop.get("/v1/view/journal")["card"]
    assert [e["operation"] for e in journal] == ["sale", "void"]


def test_a_till_runs_a_pre_auth_its_completion_and_their_voids(served: ServedShop) -> None:
    """pcInvokePOS.md lists the pre-auth codes among its 银行卡交易 (术语说明): 300000
    预授权, 330000 预授权完成, 400000 预授权撤销, 440000 预授权完成撤销; amt is
    required for 预授权 (请求参数, amt). The document names no key for the original of a
    follow-up: possim takes its voucher number from systraceNo (as 消费撤销 does) or its
    order number from orderNo (docs/cashier_apps.md)."""
    till, shop = tcp_till(served), ShopClient(served.url)
    card = {"msgTp": "0200", "payTp": "0", "procTp": "00"}
    reply = in_background(
        till, {**card, "procCd": "300000", "amt": "100.00", "orderNo": "HOTEL001"}
    )
    shop.pay_by_card("unionpay_debit", "683915")
    preauth = reply()
    assert preauth["code"] == "0", preauth
    assert set(preauth) == set(COMMON + CARD_ONLY)
    assert preauth["transAmount"] == "100.00" and preauth["authCode"]
    # The completion names the pre-auth by its voucher number; no card.
    completion = till(
        {**card, "procCd": "330000", "amt": "80.00", "systraceNo": preauth["traceNo"]}
    )
    assert completion["code"] == "0", completion
    assert completion["transAmount"] == "80.00"
    assert completion["traceNo"] != preauth["traceNo"]
    # 预授权完成撤销 names the completion; its amount is the completion's.
    undone = till({**card, "procCd": "440000", "systraceNo": completion["traceNo"]})
    assert undone["code"] == "0", undone
    assert undone["transAmount"] == "80.00"
    # Now the pre-auth may be voided, named by its order number; amount: the pre-auth's.
    released = till({**card, "procCd": "400000", "orderNo": "HOTEL001"})
    assert released["code"] == "0", released
    assert released["transAmount"] == "100.00"
    journal = shop.get("/v1/view/journal")["card"]
    assert [(e["operation"], e["state"]) for e in journal] == [
        ("preauth", "approved"),
        ("preauth_completion", "approved"),
        ("preauth_completion_void", "approved"),
        ("preauth_void", "approved"),
    ]
    kinds = [r["kind"] for r in shop.get("/v1/view/receipts")]
    assert kinds[:2] == ["preauth", "preauth"] and len(kinds) == 8, kinds
    # A follow-up without its original, and one of an unknown original, are refused.
    for request, rule in (
        ({"procCd": "330000", "amt": "1.00"}, "systraceNo or orderNo: a 预授权完成"),
        ({"procCd": "400000", "systraceNo": "999999"}, "systraceNo='999999': no approved"),
    ):
        answer = till({**card, **request})
        assert answer["code"] == "-1" and rule in answer["message"], answer
        logged = [e for e in served.shop.view.events() if e.kind == "ecr_refused"]
        assert rule in logged[-1].summary
