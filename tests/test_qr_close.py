"""Closing an unpaid order (``POST /v1/close``, docs/qr_api.md) and the terminal's use
of it for a dynamic QR that was not paid in time or was cancelled by the cashier.

A close never returns money: a paid order is refused (``ORDER_PAID``) and kept.
The terminal test makes the customer pay in the one window a close has to get
right -- after the terminal's last query, before its close -- on the virtual clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qr_helpers import ALIPAY, MID, TID, WECHAT, Client, running_gateway
from test_cashier_cancel import (
    finish,
    gateway_order,
    last_qr_sale,
    phone,
    qr_requests,
    screens,
    shop,
    start,
)

from drivers.clock import RealClock
from simulator.gateway.builtin import BuiltinGateway
from simulator.terminal.cashier_cancel import CANCELLED_BY_CASHIER
from simulator.terminal.journal import QrState
from simulator.terminal.qr_link import QrGatewayUnreachable, QrHttpCall
from simulator.terminal.tracing import Said

NOTIFY = "http://127.0.0.1:9/notify"  # the discard port: nobody listens


@pytest.fixture
def qr(tmp_path: Path) -> Iterator[tuple[BuiltinGateway, Client]]:
    with running_gateway(tmp_path, RealClock()) as running:
        yield running


def close(client: Client, out_trade_no: str, **body: Any) -> tuple[int, dict[str, Any]]:
    return client.post(
        "/v1/close", {"merchant_id": MID, "terminal_id": TID, "out_trade_no": out_trade_no, **body}
    )


def _state(gateway: BuiltinGateway, out_trade_no: str) -> str:
    order = gateway.qr.find(MID, out_trade_no)
    assert order is not None
    return order.trade_state


# -- the gateway ------------------------------------------------------------------------------


def test_an_unpaid_dynamic_qr_is_closed_and_can_no_longer_be_paid(
    qr: tuple[BuiltinGateway, Client],
) -> None:
    gateway, client = qr
    payload = client.precreate("C1", 1234, "wechat", NOTIFY)[1]["qr_payload"]
    status, answer = close(client, "C1")
    assert (status, answer) == (
        200,
        {"result": "SUCCESS", "out_trade_no": "C1", "trade_state": "CLOSED"},
    )
    assert client.query("C1")[1]["trade_state"] == "CLOSED"
    paid = client.sim("customer/pay_qr", qr_payload=payload, wallet="wechat")[1]
    assert (paid["result"], paid["error_code"]) == ("FAIL", "ORDER_CLOSED")
    (order,) = gateway.qr.orders()
    assert order.charged_fen == 0 and order.transaction_id is None


def test_closing_a_closed_order_again_is_the_same_success(
    qr: tuple[BuiltinGateway, Client],
) -> None:
    gateway, client = qr
    client.precreate("C2", 1234, "alipay", NOTIFY)
    first = close(client, "C2")
    before = gateway.qr.snapshot()
    assert close(client, "C2") == first
    assert gateway.qr.snapshot() == before  # nothing written the second time


def test_a_userpaying_micropay_is_closed_and_a_late_confirmation_cannot_charge_it(
    qr: tuple[BuiltinGateway, Client],
) -> None:
    gateway, client = qr
    assert client.micropay("C3", 250000, ALIPAY)[1]["result"] == "USERPAYING"
    assert close(client, "C3")[1]["trade_state"] == "CLOSED"
    late = client.sim("customer/confirm", out_trade_no="C3")[1]
    assert late["error_code"] == "ORDER_CLOSED"
    assert _state(gateway, "C3") == "CLOSED"


@pytest.mark.parametrize("refunded", [False, True], ids=["paid", "partly_refunded"])
def test_a_paid_order_is_refused_with_order_paid_and_left_unchanged(
    qr: tuple[BuiltinGateway, Client], refunded: bool
) -> None:
    gateway, client = qr
    payload = client.precreate("C4", 1234, "wechat", NOTIFY)[1]["qr_payload"]
    assert client.sim("customer/pay_qr", qr_payload=payload, wallet="wechat")[1]["result"] == (
        "SUCCESS"
    )
    if refunded:
        assert client.refund("C4", "R4", 100)[1]["result"] == "SUCCESS"
    before = gateway.qr.snapshot()
    status, answer = close(client, "C4")
    assert (status, answer["result"], answer["error_code"]) == (200, "FAIL", "ORDER_PAID")
    assert answer["trade_state"] == ("REFUND" if refunded else "SUCCESS")
    assert gateway.qr.snapshot() == before
    (order,) = gateway.qr.orders()
    assert order.charged_fen == (1134 if refunded else 1234)


def test_a_reversed_order_is_not_closed(qr: tuple[BuiltinGateway, Client]) -> None:
    gateway, client = qr
    client.micropay("C5", 1000, WECHAT)
    client.reverse("C5")
    status, answer = close(client, "C5")
    assert (status, answer["result"], answer["error_code"]) == (200, "FAIL", "ORDER_REVOKED")
    assert _state(gateway, "C5") == "REVOKED"


def test_an_unknown_order_is_404_order_not_exist(qr: tuple[BuiltinGateway, Client]) -> None:
    gateway, client = qr
    status, answer = close(client, "NOSUCH")
    assert (status, answer["error_code"]) == (404, "ORDER_NOT_EXIST")
    assert gateway.qr.orders() == []


@pytest.mark.parametrize(
    ("body", "signature", "status"),
    [
        ({"merchant_id": MID}, "auto", 400),  # no out_trade_no
        ({"merchant_id": MID, "out_trade_no": "C 6"}, "auto", 400),
        ({"merchant_id": MID, "out_trade_no": "C6", "terminal_id": 7}, "auto", 400),
        ({"merchant_id": MID, "out_trade_no": "C6"}, "0" * 64, 401),
        ({"merchant_id": MID, "out_trade_no": "C6"}, None, 401),
        ({"merchant_id": "nobody", "out_trade_no": "C6"}, "auto", 401),
    ],
)
def test_a_rejected_close_changes_nothing(
    qr: tuple[BuiltinGateway, Client], body: dict[str, Any], signature: str | None, status: int
) -> None:
    gateway, client = qr
    client.precreate("C6", 1234, "wechat", NOTIFY)
    before = gateway.qr.snapshot()
    got, answer = client.post("/v1/close", body, signature=signature)
    assert got == status, answer
    assert gateway.qr.snapshot() == before


# -- the terminal -----------------------------------------------------------------------------


def test_a_customer_paying_between_the_last_query_and_the_close_keeps_the_payment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "wechat")
        payload = sim.terminal.display.screen.lines[-1]
        order, _ = last_qr_sale(sim)
        link = sim.terminal.qr_link
        assert link is not None
        real_close = link.close

        def customer_pays_first(out_trade_no: str) -> dict[str, Any]:
            # The terminal's last query said NOTPAY; its close is about to leave.
            assert qr_requests(sim)[-1] == f"GET /v1/orders/{order}"
            assert gateway_order(sim, order) == "NOTPAY"
            phone(sim, "customer/pay_qr", {"qr_payload": payload, "wallet": "wechat"})
            return real_close(out_trade_no)

        monkeypatch.setattr(link, "close", customer_pays_first)
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert result.approved, result.outcome.reason
        assert qr_requests(sim)[-3:] == [
            f"GET /v1/orders/{order}",
            "POST /v1/close",
            f"GET /v1/orders/{order}",  # ORDER_PAID: the payment's details
        ]
        refused = [e.payload.body for e in sim.bus.of(QrHttpCall) if e.payload.direction == "in"][
            -2
        ]
        assert refused["error_code"] == "ORDER_PAID"
        (charged,) = sim.gateway.qr.orders()
        assert (charged.trade_state, charged.charged_fen) == ("SUCCESS", 1234)
        assert last_qr_sale(sim) == (order, QrState.SUCCESS)
        assert result.outcome.detail is not None
        assert result.outcome.detail.transaction_id == charged.transaction_id
        assert "paid" in screens(sim)
        said = [e.payload.text for e in sim.bus.of(Said)]
        assert said == ["微信收款十二点三四元"]
        printer = sim.world.printer
        assert printer is not None
        assert len(printer.receipts) == 3  # the QR slip and the two copies
        assert not any(r.endswith("/reverse") for r in qr_requests(sim))


def test_a_dynamic_qr_unpaid_at_qr_wait_is_closed_not_reversed(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        started_at = sim.clock.monotonic()
        sale = start(sim, 1234, "alipay")
        result = finish(sale)
        assert not result.approved
        assert result.outcome.reason.endswith(": closed"), result.outcome.reason
        assert CANCELLED_BY_CASHIER not in result.outcome.reason
        assert sim.clock.monotonic() - started_at >= sim.terminal.config.timeouts.qr_wait
        order, state = last_qr_sale(sim)
        assert state is QrState.CLOSED and gateway_order(sim, order) == "CLOSED"
        assert qr_requests(sim)[-1] == "POST /v1/close"
        assert not any(r.endswith("/reverse") for r in qr_requests(sim))


@pytest.mark.parametrize("customer_paid", [False, True], ids=["unpaid", "paid_meanwhile"])
def test_a_close_without_an_answer_lets_one_query_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customer_paid: bool
) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "wechat")
        payload = sim.terminal.display.screen.lines[-1]
        order, _ = last_qr_sale(sim)
        link = sim.terminal.qr_link
        assert link is not None

        def unanswered(out_trade_no: str) -> dict[str, Any]:
            if customer_paid:
                phone(sim, "customer/pay_qr", {"qr_payload": payload, "wallet": "wechat"})
            raise QrGatewayUnreachable("QR gateway: timed out")

        monkeypatch.setattr(link, "close", unanswered)
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert qr_requests(sim)[-2:] == [f"GET /v1/orders/{order}"] * 2
        if customer_paid:
            assert result.approved, result.outcome.reason
            assert last_qr_sale(sim) == (order, QrState.SUCCESS)
            assert gateway_order(sim, order) == "SUCCESS"
        else:
            assert not result.approved
            assert "the close failed" in result.outcome.reason
            # Nobody knows the order is closed: the journal says what the gateway says.
            assert last_qr_sale(sim) == (order, QrState.NOTPAY)
            assert gateway_order(sim, order) == "NOTPAY"
