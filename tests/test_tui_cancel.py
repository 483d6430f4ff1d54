"""The TUI driven headless by keys alone: the cashier's CANCEL (escape) ends a payment
that waits for a code, a dynamic QR to be paid or a card; asserts on the screen
and on the gateway's orders, and that the next sale runs as usual."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_tui_app import make_simulation, screen_of, until
from test_tui_qr import choose, paid
from textual.pilot import Pilot

from simulator.gateway.server import HostIsoMessage
from simulator.terminal.cashier_cancel import CANCELLED_BY_CASHIER
from simulator.tui.app import PossimApp
from simulator.tui.widgets.ledger import LedgerPanel


async def cancelled(pilot: Pilot[None], app: PossimApp, reason: str) -> None:
    await until(
        pilot,
        lambda: (
            not app.shop.terminal.busy
            and screen_of(app).screen_id == "payment_failed"
            and reason in screen_of(app).text
        ),
        f"payment failed: {reason}",
    )


def test_escape_cancels_a_scan_before_the_code_then_the_next_scan_pays(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await choose(pilot, app, "1234", "2")
                await until(pilot, lambda: screen_of(app).screen_id == "scan_code", "scan screen")
                await pilot.press("escape")
                await cancelled(pilot, app, CANCELLED_BY_CASHIER)
                assert sim.gateway.qr.orders() == []  # nothing was sent
                assert sim.terminal.journal.qr_entries() == []
                await choose(pilot, app, "1234", "2")
                await until(pilot, lambda: screen_of(app).screen_id == "scan_code", "scan screen")
                await pilot.press("k")
                await paid(pilot, app, receipts=2)
                rows = [(o.channel, o.amount_fen, o.trade_state) for o in sim.gateway.qr.orders()]
                assert rows == [("wechat", 1234, "SUCCESS")]

    asyncio.run(scenario())


def test_escape_cancels_an_unpaid_dynamic_qr_and_the_gateway_closes_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await choose(pilot, app, "1234", "3")
                await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
                assert app.counter.can_pay_qr
                await pilot.press("escape")
                await cancelled(pilot, app, f"{CANCELLED_BY_CASHIER}: closed")
                orders = sim.gateway.qr.orders()
                assert [(o.kind, o.channel, o.amount_fen, o.trade_state) for o in orders] == [
                    ("precreate", "wechat", 1234, "CLOSED")
                ]
                await until(
                    pilot,
                    lambda: (
                        [o.trade_state for o in app.query_one(LedgerPanel).qr_orders] == ["CLOSED"]
                    ),
                    "the ledger tab shows the closed order",
                )
                assert not app.counter.can_pay_qr

    asyncio.run(scenario())


def test_escape_cancels_a_card_sale_waiting_for_the_card(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await choose(pilot, app, "1234", "1")
                await until(
                    pilot, lambda: screen_of(app).screen_id == "present_card", "present card"
                )
                await pilot.press("escape")
                await cancelled(pilot, app, CANCELLED_BY_CASHIER)
                assert sim.bus.of(HostIsoMessage) == []
                assert sim.terminal.journal.entries() == []

    asyncio.run(scenario())
