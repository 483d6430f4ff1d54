"""The built-in gateway's QR API over real HTTP on loopback (docs/qr_api.md)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from qr_helpers import ALIPAY, MID, UNIONPAY, WECHAT, Client, running_gateway

from drivers.clock import RealClock
from simulator.events import EventBus
from simulator.gateway.builtin import BuiltinGateway
from simulator.gateway.ledger import SCHEMA_VERSION, Ledger
from simulator.gateway.ledger.store import VERSION_1
from simulator.gateway.qr.http import QrApiCall
from simulator.gateway.qr.signing import sign


@pytest.fixture
def qr(tmp_path: Path) -> Iterator[tuple[BuiltinGateway, Client]]:
    with running_gateway(tmp_path, RealClock()) as running:
        yield running


@pytest.mark.parametrize(
    ("code", "channel"),
    [
        ("104567890123456789", "wechat"),
        ("154567890123456789", "wechat"),
        ("2534567890123456", "alipay"),
        ("304567890123456789012345", "alipay"),
        ("6234567890123456789", "unionpay_qr"),
    ],
)
def test_micropay_routes_by_prefix(
    qr: tuple[BuiltinGateway, Client], code: str, channel: str
) -> None:
    gateway, client = qr
    status, answer = client.micropay("T1", 1000, code)
    assert status == 200
    assert answer["result"] == "SUCCESS"
    assert answer["channel"] == channel
    assert answer["transaction_id"]
    (order,) = gateway.qr.orders()
    assert order.channel == channel and order.trade_state == "SUCCESS"
    assert order.masked_code == "*" * (len(code) - 4) + code[-4:]
    assert code not in json.dumps([e.to_json() for e in gateway.server._bus.events])


@pytest.mark.parametrize(
    "code",
    [
        "164567890123456789",  # WeChat length, prefix 16
        "13456789012345678",  # 17 digits starting 13
        "3134567890123456",  # Alipay length, prefix 31
        "25345678901234567890123456",  # 26 digits
        "623456789012345678",  # UnionPay prefix, 18 digits
        "13456789012345678x",
        "１34567890123456789",  # a full-width digit
        "",
    ],
)
def test_invalid_codes_are_refused_without_a_ledger_row(
    qr: tuple[BuiltinGateway, Client], code: str
) -> None:
    gateway, client = qr
    status, answer = client.micropay("T1", 1000, code)
    assert (status, answer["result"], answer["error_code"]) == (200, "FAIL", "AUTH_CODE_INVALID")
    assert gateway.qr.orders() == []


def test_userpaying_then_confirm_is_paid_when_polled(qr: tuple[BuiltinGateway, Client]) -> None:
    gateway, client = qr
    status, answer = client.micropay("T2", 100001, WECHAT)  # above the password-free limit
    assert answer["result"] == "USERPAYING"
    assert client.query("T2")[1]["trade_state"] == "USERPAYING"
    assert gateway.qr.orders()[0].charged_fen == 0
    status, answer = client.sim("customer/confirm", out_trade_no="T2")
    assert (status, answer["trade_state"]) == (200, "SUCCESS")
    status, order = client.query("T2")
    assert (status, order["trade_state"], order["amount_fen"]) == (200, "SUCCESS", 100001)
    assert order["transaction_id"] and order["paid_at"]
    assert gateway.qr.orders()[0].charged_fen == 100001


def test_userpaying_then_reverse_is_revoked_and_never_charged(
    qr: tuple[BuiltinGateway, Client],
) -> None:
    gateway, client = qr
    assert client.micropay("T3", 250000, ALIPAY)[1]["result"] == "USERPAYING"
    status, answer = client.reverse("T3")
    assert (status, answer["result"], answer["trade_state"]) == (200, "SUCCESS", "REVOKED")
    assert client.reverse("T3")[1]["trade_state"] == "REVOKED"  # idempotent
    # a late confirmation cannot charge a reversed order
    assert client.sim("customer/confirm", out_trade_no="T3")[1]["error_code"] == "ORDER_REVOKED"
    assert client.query("T3")[1]["trade_state"] == "REVOKED"
    (order,) = gateway.qr.orders()
    assert order.charged_fen == 0 and order.transaction_id is None


def test_customer_cancel(qr: tuple[BuiltinGateway, Client]) -> None:
    _, client = qr
    client.micropay("T4", 200000, UNIONPAY)
    assert client.sim("customer/cancel", out_trade_no="T4")[1]["trade_state"] == "PAYERROR"
    order = client.query("T4")[1]
    assert (order["trade_state"], order["error_code"]) == ("PAYERROR", "USERCANCEL")


def test_repeat_is_idempotent_and_a_different_order_is_refused(
    qr: tuple[BuiltinGateway, Client],
) -> None:
    gateway, client = qr
    first = client.micropay("T5", 1234, WECHAT)
    assert client.micropay("T5", 1234, WECHAT) == first
    assert len(gateway.qr.orders()) == 1
    for amount, code in ((1235, WECHAT), (1234, "134567890123450000")):
        _status, answer = client.micropay("T5", amount, code)
        assert (answer["result"], answer["error_code"]) == ("FAIL", "OUT_TRADE_NO_USED")
    (order,) = gateway.qr.orders()
    assert (order.amount_fen, order.charged_fen) == (1234, 1234)


def test_magic_amount_51_is_notenough(qr: tuple[BuiltinGateway, Client]) -> None:
    gateway, client = qr
    _status, answer = client.micropay("T6", 1051, WECHAT)
    assert (answer["result"], answer["error_code"]) == ("FAIL", "NOTENOUGH")
    assert client.query("T6")[1]["trade_state"] == "PAYERROR"
    assert gateway.qr.orders()[0].charged_fen == 0


def test_refund_partial_full_exceeded_and_idempotent(qr: tuple[BuiltinGateway, Client]) -> None:
    gateway, client = qr
    client.micropay("T7", 1000, WECHAT)
    status, first = client.refund("T7", "R1", 300)
    assert (first["result"], first["refunded_fen"], first["trade_state"]) == (
        "SUCCESS",
        300,
        "REFUND",
    )
    assert client.refund("T7", "R1", 300) == (status, first)  # same out_refund_no: same refund
    assert client.refund("T7", "R1", 400)[1]["error_code"] == "OUT_REFUND_NO_USED"
    assert client.refund("T7", "R2", 701)[1]["error_code"] == "REFUND_EXCEEDED"
    assert client.refund("T7", "R2", 700)[1]["refunded_fen"] == 1000
    assert client.refund("T7", "R3", 1)[1]["error_code"] == "REFUND_EXCEEDED"
    assert client.query("T7")[1]["refunded_fen"] == 1000
    assert gateway.qr.orders()[0].charged_fen == 0
    assert [r[3] for r in gateway.qr.refunds()] == [300, 700]


def test_refund_of_unpaid_and_unknown_orders(qr: tuple[BuiltinGateway, Client]) -> None:
    _, client = qr
    client.micropay("T9", 200000, UNIONPAY)  # USERPAYING
    assert client.refund("T9", "R9", 1)[1]["error_code"] == "ORDER_NOT_PAID"
    status, answer = client.refund("NOPE", "R9", 1)
    assert (status, answer["error_code"]) == (404, "ORDER_NOT_EXIST")
    assert client.query("NOPE")[0] == 404


def test_void_of_a_paid_order_the_same_day(qr: tuple[BuiltinGateway, Client]) -> None:
    gateway, client = qr
    client.micropay("T10", 500, ALIPAY)
    assert client.reverse("T10")[1]["trade_state"] == "REVOKED"
    assert gateway.qr.orders()[0].charged_fen == 0


@pytest.mark.parametrize(
    "signature", [None, "", "00" * 32, sign("wrong-key", b"{}"), "not hex at all é"]
)
def test_missing_or_wrong_signature_is_401_and_changes_nothing(
    qr: tuple[BuiltinGateway, Client], signature: str | None
) -> None:
    gateway, client = qr
    client.micropay("PAID", 100, WECHAT)
    before = gateway.qr.snapshot()
    body = {
        "merchant_id": MID,
        "terminal_id": "POSSIM01",
        "out_trade_no": "X1",
        "amount_fen": 100,
        "auth_code": WECHAT,
    }
    calls = [
        ("/v1/micropay", body),
        ("/v1/orders/PAID/refund", {"merchant_id": MID, "out_refund_no": "R", "refund_fen": 1}),
        ("/v1/orders/PAID/reverse", {"merchant_id": MID}),
        ("/v1/sim/customer/confirm", {"out_trade_no": "PAID"}),
        ("/v1/micropay", {**body, "merchant_id": "000000000000000"}),  # unknown merchant
    ]
    for path, request in calls:
        status, answer = client.post(path, request, signature=signature)
        assert (status, answer["error_code"]) == (401, "SIGNATURE_INVALID"), path
    status, answer = client.get("/v1/orders/PAID", {"merchant_id": MID}, signed=False)
    assert status == 401
    assert gateway.qr.snapshot() == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "JSON"),
        (b"[1, 2]", "object"),
        (json.dumps({"merchant_id": MID}).encode(), "auth_code"),
        (
            json.dumps(
                {
                    "merchant_id": MID,
                    "terminal_id": "T",
                    "out_trade_no": "A",
                    "amount_fen": True,
                    "auth_code": WECHAT,
                }
            ).encode(),
            "amount_fen",
        ),
        (
            json.dumps(
                {
                    "merchant_id": MID,
                    "terminal_id": "T",
                    "out_trade_no": "A/B",
                    "amount_fen": 1,
                    "auth_code": WECHAT,
                }
            ).encode(),
            "out_trade_no",
        ),
    ],
)
def test_malformed_requests_are_400(
    qr: tuple[BuiltinGateway, Client], raw: bytes, field: str
) -> None:
    gateway, client = qr
    status, answer = client.post("/v1/micropay", None, raw=raw)
    assert (status, answer["error_code"]) == (400, "INVALID_REQUEST")
    assert field in answer["message"]
    assert gateway.qr.orders() == []


def test_openapi_document_is_served(qr: tuple[BuiltinGateway, Client]) -> None:
    import urllib.request

    import yaml

    _, client = qr
    with urllib.request.urlopen(client.base_url + "/openapi.yaml", timeout=10) as response:
        document = yaml.safe_load(response.read())
    assert document["openapi"].startswith("3.0")
    assert "/v1/micropay" in document["paths"]


def test_qr_and_card_share_one_ledger_and_old_ledgers_migrate(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    for statement in VERSION_1:  # what version 1 wrote
        old.execute(statement)
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    with Ledger(path, RealClock()) as ledger, ledger.transaction() as db:
        assert db.execute("SELECT COUNT(*) FROM qr_transactions").fetchone() == (0,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_sim_calls_are_off_outside_simulations(tmp_path: Path) -> None:
    clock = RealClock()
    gateway = BuiltinGateway(
        tmp_path / "l.sqlite",
        clock=clock,
        bus=EventBus(clock),
        rng=random.Random(0),
        simulation=False,
    )
    gateway.start()
    try:
        client = Client(gateway.qr_base_url)
        assert client.micropay("S1", 200000, WECHAT)[1]["result"] == "USERPAYING"
        status, answer = client.sim("customer/confirm", out_trade_no="S1")
        assert (status, answer["error_code"]) == (404, "NOT_FOUND")
        assert client.query("S1")[1]["trade_state"] == "USERPAYING"
    finally:
        gateway.stop()


def test_every_request_is_an_http_event_with_the_code_masked(
    qr: tuple[BuiltinGateway, Client],
) -> None:
    gateway, client = qr
    client.micropay("E1", 100, UNIONPAY)
    client.query("E1")
    events = gateway.server._bus.of(QrApiCall)
    assert [e.summary for e in events] == [
        "POST /v1/micropay -> 200 SUCCESS",
        "GET /v1/orders/E1 -> 200 SUCCESS",
    ]
    assert events[0].payload.request["auth_code"] == "*" * 15 + UNIONPAY[-4:]
    assert events[0].detail["request"]["auth_code"] == "*" * 15 + UNIONPAY[-4:]
    assert all(e.source == "gateway" for e in events)
