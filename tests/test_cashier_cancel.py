"""The cashier's CANCEL (``Terminal.cancel``) on the terminal model, on the virtual clock.

Each waiting state ends at once and as documented; a payment made meanwhile
wins over the CANCEL; an idle terminal ignores it; an authorising one refuses
it; and a CANCEL never reaches the next sale. The test thread is an actor of the
virtual clock, so time only moves when it waits: every race here is ordered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sim_helpers import WIND_DOWN, gateway_requests, insert, pin, remove, simulation

from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.events import EventBus
from simulator.gateway.faults import ReplyFault
from simulator.gateway.qr.orders import QrOrder
from simulator.gateway.server import HostIsoMessage
from simulator.shop import Shop
from simulator.terminal.acquiring_events import CancelPressed
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.cashier_cancel import CANCELLED_BY_CASHIER, CancelRefused, CashierCancel
from simulator.terminal.display import ScreenId, ScreenShown
from simulator.terminal.journal import QrState
from simulator.terminal.qr_link import QrHttpCall, QrLink
from simulator.terminal.terminal import SaleHandle
from simulator.wire import emvco

CARD = cards.load("unionpay_debit")
WECHAT_CODE = "134567890123456789"
ABOVE_PASSWORD_FREE = 120000  # RMB 1200.00: the gateway answers USERPAYING
REVERSED = f"{CANCELLED_BY_CASHIER}: reversed"
CLOSED = f"{CANCELLED_BY_CASHIER}: closed"


@contextmanager
def shop(tmp_path: Path) -> Iterator[Shop]:
    """A simulation whose clock the test thread holds (time moves only when it waits)."""
    with simulation(tmp_path) as sim, sim.clock.actor():
        yield sim


def start(sim: Shop, amount_fen: int, method: str = "card") -> SaleHandle:
    sale = sim.terminal.start_sale(amount_fen, method)
    sim.clock.settle()
    return sale


def finish(sale: SaleHandle) -> SaleResult:
    result = sale.wait(WIND_DOWN)
    assert result is not None
    return result


def screen(sim: Shop) -> ScreenId:
    return sim.terminal.display.screen.id


def screens(sim: Shop) -> list[str]:
    return [e.payload.screen.value for e in sim.bus.of(ScreenShown)]


def qr_requests(sim: Shop) -> list[str]:
    """The terminal's QR API calls, as ``METHOD path`` without the query string."""
    return [
        f"{e.payload.method} {str(e.payload.path).split('?')[0]}"
        for e in sim.bus.of(QrHttpCall)
        if e.payload.direction == "out"
    ]


def gateway_order(sim: Shop, out_trade_no: str) -> str:
    order = sim.gateway.qr.find(sim.terminal.config.merchant_id, out_trade_no)
    return "NONE" if order is None else order.trade_state


def last_qr_sale(sim: Shop) -> tuple[str, QrState]:
    sales = [e for e in sim.terminal.journal.qr_entries() if e.operation == "sale"]
    return sales[-1].out_trade_no, sales[-1].state


def phone(sim: Shop, action: str, body: dict[str, str]) -> None:
    """A customer's phone calls the gateway's simulation API (not terminal traffic)."""
    link = sim.terminal.qr_link
    assert link is not None
    QrLink(
        link.base_url,
        merchant_id=link.merchant_id,
        terminal_id=link.terminal_id,
        api_key=sim.terminal.config.keys.merchant_api_key,
        bus=None,
    ).sim(action, body)


# -- each waiting state -----------------------------------------------------------------


def test_cancel_while_waiting_for_the_card_ends_at_once_with_nothing_sent(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234)
        assert screen(sim) is ScreenId.PRESENT_CARD
        before = sim.clock.monotonic()
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert not result.approved and result.outcome.reason == CANCELLED_BY_CASHIER
        assert sim.clock.monotonic() == before  # woken at once, no timeout ran
        assert sim.bus.of(HostIsoMessage) == []
        assert sim.terminal.journal.entries() == []
        assert screens(sim)[-2:] == ["cancelled", "payment_failed"]
        cancels = sim.bus.of(CancelPressed)
        assert [e.payload.waiting_for for e in cancels] == ["the card"]


def test_cancel_while_waiting_for_a_swipe_after_the_chip_failed(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234)
        insert(cards.load("garbage_gpo"))(sim)  # the chip cannot be read
        sim.clock.settle()
        remove(sim)
        sim.clock.settle()
        assert screen(sim) is ScreenId.SWIPE_CARD, sim.terminal.display.screen.text()
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert result.outcome.reason == CANCELLED_BY_CASHIER
        assert gateway_requests(sim) == []


def test_cancel_while_waiting_for_the_code_sends_nothing(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "scan")
        assert screen(sim) is ScreenId.SCAN_CODE
        before = sim.clock.monotonic()
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert not result.approved and result.outcome.reason == CANCELLED_BY_CASHIER
        # The scanner is read in slices of 0.1 s: the 60 s scan timeout never runs.
        assert sim.clock.monotonic() - before <= 0.1 + 1e-9
        assert qr_requests(sim) == []
        assert sim.terminal.journal.qr_entries() == []
        assert sim.gateway.qr.orders() == []


def test_a_code_scanned_together_with_the_cancel_is_dropped(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "scan")
        assert sim.terminal.cancel() is True
        # Time stands still (this thread holds it): the terminal is still in its
        # scanner read when the code comes, and must honour the CANCEL anyway.
        scanner = sim.world.scanner
        assert scanner is not None
        scanner.scan(WECHAT_CODE)
        result = finish(sale)
        assert result.outcome.reason == CANCELLED_BY_CASHIER
        assert qr_requests(sim) == []
        assert sim.gateway.qr.orders() == []


def test_cancel_while_the_customer_confirms_reverses_the_order(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, ABOVE_PASSWORD_FREE, "scan")
        assert sim.world.scanner is not None
        sim.world.scanner.scan(WECHAT_CODE)
        sim.clock.settle()
        assert screen(sim) is ScreenId.WAITING_PAYMENT
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert result.outcome.reason == REVERSED
        order, state = last_qr_sale(sim)
        assert state is QrState.REVOKED
        assert gateway_order(sim, order) == "REVOKED"
        # One last query (a confirmation meanwhile would win), then the reversal.
        assert qr_requests(sim) == [
            "POST /v1/micropay",
            f"GET /v1/orders/{order}",
            f"POST /v1/orders/{order}/reverse",
        ]


def test_cancel_of_an_unpaid_dynamic_qr_closes_it_as_the_timeout_does(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "wechat")
        assert screen(sim) is ScreenId.SHOW_QR
        before = sim.clock.monotonic()
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert not result.approved and result.outcome.reason == CLOSED
        assert sim.clock.monotonic() == before  # not the 120 s qr_wait
        order, state = last_qr_sale(sim)
        assert state is QrState.CLOSED
        assert gateway_order(sim, order) == "CLOSED"
        assert qr_requests(sim)[-2:] == [f"GET /v1/orders/{order}", "POST /v1/close"]
        assert screens(sim)[-3:] == ["processing", "cancelled", "payment_failed"]
        # The customer can no longer pay the QR that was on the screen.
        payload = next(
            e.payload.lines[-1]
            for e in sim.bus.of(ScreenShown)
            if e.payload.screen is ScreenId.SHOW_QR
        )
        paid = sim.gateway.qr.customer_pay_qr(
            _order(sim, order), emvco.parse(str(payload)), "wechat"
        )
        assert paid.body.get("error_code") == "ORDER_CLOSED"


# -- a payment made meanwhile wins ----------------------------------------------------------


def _order(sim: Shop, out_trade_no: str) -> QrOrder:
    order = sim.gateway.qr.find(sim.terminal.config.merchant_id, out_trade_no)
    assert order is not None
    return order


def test_a_dynamic_qr_paid_before_the_cancel_is_seen_is_approved_not_reversed(
    tmp_path: Path,
) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "wechat")
        payload = sim.terminal.display.screen.lines[-1]
        order, _ = last_qr_sale(sim)
        # The customer pays at the gateway; its notify is still on the way (the
        # service is called directly, so none is sent) when the cashier cancels.
        # Time stands still meanwhile, so the terminal has not polled either.
        paid = sim.gateway.qr.customer_pay_qr(_order(sim, order), emvco.parse(payload), "wechat")
        assert paid.body.get("result") == "SUCCESS"
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert result.approved, result.outcome.reason
        assert gateway_order(sim, order) == "SUCCESS"
        assert last_qr_sale(sim) == (order, QrState.SUCCESS)
        assert not any(r.endswith("/reverse") for r in qr_requests(sim))
        assert "paid" in screens(sim)
        # The request is in the transcript before the payment's outcome.
        kinds = [type(e.payload) for e in sim.bus.events]
        assert kinds.index(CancelPressed) < max(i for i, k in enumerate(kinds) if k is QrHttpCall)


def test_a_confirmation_before_the_cancel_is_seen_is_approved_not_reversed(
    tmp_path: Path,
) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, ABOVE_PASSWORD_FREE, "scan")
        assert sim.world.scanner is not None
        sim.world.scanner.scan(WECHAT_CODE)
        sim.clock.settle()
        order, _ = last_qr_sale(sim)
        phone(sim, "customer/confirm", {"out_trade_no": order})  # micropay: no notify
        assert sim.terminal.cancel() is True
        result = finish(sale)
        assert result.approved, result.outcome.reason
        assert gateway_order(sim, order) == "SUCCESS"
        assert not any(r.endswith("/reverse") for r in qr_requests(sim))


def test_once_the_notify_has_approved_the_sale_there_is_nothing_to_cancel(
    tmp_path: Path,
) -> None:
    with shop(tmp_path) as sim:
        sale = start(sim, 1234, "wechat")
        payload = sim.terminal.display.screen.lines[-1]
        phone(sim, "customer/pay_qr", {"qr_payload": payload, "wallet": "wechat"})
        result = finish(sale)
        assert result.approved
        assert sim.terminal.cancel() is False
        order, state = last_qr_sale(sim)
        assert state is QrState.SUCCESS and gateway_order(sim, order) == "SUCCESS"


# -- idle, refused, and never into the next sale -----------------------------------------------


def test_cancel_on_an_idle_terminal_does_nothing(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        events = len(sim.bus)
        assert sim.terminal.cancel() is False
        assert len(sim.bus) == events
        assert not sim.terminal.cancel_pending


def test_cancel_is_refused_while_the_host_authorises(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        # The host answers 10 s late: the terminal then waits for it, and time
        # stands still while this thread holds it.
        sim.gateway.server.faults.arm(ReplyFault(delay=10.0))
        sale = start(sim, 1234)
        insert(CARD)(sim)
        sim.clock.settle()
        with pytest.raises(CancelRefused, match="PIN pad"):
            sim.terminal.cancel()  # PIN entry: the PIN pad's own CANCEL
        pin(CARD.pin)(sim)
        sim.clock.settle()
        assert screen(sim) is ScreenId.PROCESSING
        assert len(gateway_requests(sim)) == 1
        with pytest.raises(CancelRefused, match="cannot be cancelled now"):
            sim.terminal.cancel()
        refusals = [e for e in sim.bus.of(CancelPressed) if not e.payload.accepted]
        assert len(refusals) == 2
        assert sim.clock.wait_until(lambda: screen(sim) is ScreenId.REMOVE_CARD, 60)
        remove(sim)
        result = finish(sale)
        assert result.approved, result.outcome.reason  # the refused CANCEL changed nothing


def test_a_cancel_does_not_leak_into_the_next_sale(tmp_path: Path) -> None:
    with shop(tmp_path) as sim:
        first = start(sim, 1234)
        assert sim.terminal.cancel() is True
        assert sim.terminal.cancel() is True  # pressed twice: still one request
        assert finish(first).outcome.reason == CANCELLED_BY_CASHIER
        assert len(sim.bus.of(CancelPressed)) == 1
        assert not sim.terminal.cancel_pending
        second = start(sim, 1234)
        assert screen(sim) is ScreenId.PRESENT_CARD  # still waiting: not cancelled
        for action in (insert(CARD), pin(CARD.pin)):
            action(sim)
            sim.clock.settle()
        assert sim.clock.wait_until(lambda: screen(sim) is ScreenId.REMOVE_CARD, 60)
        remove(sim)
        assert finish(second).approved
        third = start(sim, 1234, "scan")
        assert sim.world.scanner is not None
        sim.world.scanner.scan(WECHAT_CODE)
        assert finish(third).approved


def test_a_request_lives_only_in_its_window() -> None:
    clock = VirtualClock()
    cancel = CashierCancel(clock, EventBus(clock))
    assert cancel.request() is False  # no payment waits: nothing to take it
    with cancel.waiting("the card") as window:
        assert not cancel.requested
        assert cancel.request() is True
        assert cancel.requested
    assert window.cancelled and not cancel.requested
    assert cancel.request() is False  # the window is closed: refused, not kept
    with cancel.waiting("the customer's payment code") as later:
        assert not cancel.requested
    assert not later.cancelled
