"""The TUI driven headless by keys alone: QR payments, both ways round.

Customer-presented: the cashier picks "scan code", the scanner reads a sample
(or typed) payment code. Merchant-presented: the terminal draws the dynamic QR
and the customer pays it with a key. Asserts on the screen, the paper, the
ledger tab and the gateway's own QR orders.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Group
from rich.text import Text
from test_tui_app import make_simulation, screen_of, until
from textual.pilot import Pilot

from simulator.tui.app import PossimApp
from simulator.tui.qr_art import qr_matrix, qr_text
from simulator.tui.scan_codes import SAMPLE_CODES
from simulator.tui.widgets.ledger import LedgerPanel
from simulator.tui.widgets.printer import PaperRoll
from simulator.tui.widgets.scanner import ScannerPanel
from simulator.tui.widgets.speaker import SpeakerLog


async def choose(pilot: Pilot[None], app: PossimApp, amount: str, method_key: str) -> None:
    await pilot.press(*amount, "enter")
    await until(pilot, lambda: app.counter.choosing_method, "the payment method choice")
    assert "2 扫码 Scan the customer's code" in screen_of(app).text
    await pilot.press(method_key)


async def paid(pilot: Pilot[None], app: PossimApp, receipts: int) -> None:
    await until(
        pilot,
        lambda: (
            screen_of(app).screen_id == "paid"
            and len(app.query_one(PaperRoll).receipts) == receipts
        ),
        "paid screen and receipts",
    )
    await until(pilot, lambda: app.query_one(LedgerPanel).qr_orders != [], "ledger")


def test_scan_a_sample_wechat_code_by_keys(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                wechat = SAMPLE_CODES[0]
                assert wechat.wallet == "wechat"
                assert app.query_one(ScannerPanel).code == wechat.shown
                assert wechat.code not in wechat.shown  # masked on screen
                await choose(pilot, app, "1234", "2")
                await until(pilot, lambda: screen_of(app).screen_id == "scan_code", "scan screen")
                await pilot.press("k")
                await paid(pilot, app, receipts=2)
                assert "RMB 12.34" in screen_of(app).text
                assert "微信收款十二点三四元" in app.query_one(SpeakerLog).utterances
                paper = app.query_one(PaperRoll).text
                assert "微信支付 WeChat Pay" in paper and wechat.code not in paper
                rows = [(o.channel, o.amount_fen, o.trade_state) for o in sim.gateway.qr.orders()]
                assert rows == [("wechat", 1234, "SUCCESS")]
                shown = app.query_one(LedgerPanel).qr_orders
                assert [(o.channel, o.trade_state) for o in shown] == [("wechat", "SUCCESS")]

    asyncio.run(scenario())


def test_type_an_alipay_code_by_keys(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await choose(pilot, app, "500", "2")
                await until(pilot, lambda: screen_of(app).screen_id == "scan_code", "scan screen")
                await pilot.press("y")
                await until(pilot, lambda: type(app.screen).__name__ == "ScanInputScreen", "input")
                await pilot.press(*"285678901234567890", "enter")
                await paid(pilot, app, receipts=2)
                rows = [(o.channel, o.amount_fen, o.trade_state) for o in sim.gateway.qr.orders()]
                assert rows == [("alipay", 500, "SUCCESS")]

    asyncio.run(scenario())


def test_the_customer_pays_a_dynamic_wechat_qr_by_keys(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await choose(pilot, app, "1234", "3")
                await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
                screen = screen_of(app)
                payload = screen.qr_payload
                assert payload.startswith("000201") and payload in sim.terminal.display.screen.lines
                assert payload not in screen.text  # drawn, not spelled out
                drawn = qr_text(payload)
                rendered = screen.render()
                assert isinstance(rendered, Group)
                assert drawn in [r.plain for r in rendered.renderables if isinstance(r, Text)]
                # The drawing is the payload's QR matrix, two modules a cell each way.
                matrix = qr_matrix(payload)
                assert len(drawn.splitlines()) == (len(matrix) + 1) // 2
                await pilot.press("p")
                await paid(pilot, app, receipts=3)  # the QR slip and two receipts
                orders = sim.gateway.qr.orders()
                assert [(o.kind, o.channel, o.amount_fen, o.trade_state) for o in orders] == [
                    ("precreate", "wechat", 1234, "SUCCESS")
                ]
                assert not app.counter.can_pay_qr

    asyncio.run(scenario())


def test_the_dynamic_qr_fits_80x24(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(80, 24)) as pilot:
                await choose(pilot, app, "1234", "3")
                await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
                await pilot.pause()
                screen = screen_of(app)
                rows = len(qr_text(screen.qr_payload).splitlines())
                region, room = screen.region, app.query_one("#pos").region
                assert region.height >= rows + 1  # the channel and amount, then the QR
                assert region.bottom <= room.bottom and room.bottom <= 23  # above the footer
                assert not app.query_one("#keypad").display
                await pilot.press("p")
                await paid(pilot, app, receipts=3)
                assert app.query_one("#keypad").display

    asyncio.run(scenario())


def test_above_the_password_free_limit_the_customer_confirms_by_key(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                # RMB 1200.00: above WeChat's password-free limit, so USERPAYING.
                await choose(pilot, app, "120000", "2")
                await until(pilot, lambda: screen_of(app).screen_id == "scan_code", "scan screen")
                await pilot.press("k")
                await until(
                    pilot, lambda: screen_of(app).screen_id == "waiting_payment", "USERPAYING"
                )
                # The person holds the clock: the terminal waits, however long one looks.
                assert app.counter.awaits_person() and app.counter.can_pay_qr
                await pilot.press("p")
                await paid(pilot, app, receipts=2)
                rows = [(o.channel, o.amount_fen, o.trade_state) for o in sim.gateway.qr.orders()]
                assert rows == [("wechat", 120000, "SUCCESS")]

    asyncio.run(scenario())


def test_a_wedge_scan_gun_burst_is_a_scan(tmp_path: Path) -> None:
    # A keyboard-wedge gun types the code and Enter as keys a few ms apart; the app
    # takes such a burst as a scan (drivers/wedge_keys.py). gap=2 s: pilot's keys come
    # as fast as this loaded machine allows, not a gun's 2-8 ms.
    from drivers.wedge_keys import WedgeBurstDetector

    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await choose(pilot, app, "500", "2")
                await until(pilot, lambda: screen_of(app).screen_id == "scan_code", "scan screen")
                app.wedge = WedgeBurstDetector(gap=2.0)  # after the person's keys
                await pilot.press(*"134567890123456789", "enter")
                await paid(pilot, app, receipts=2)
                rows = [(o.channel, o.amount_fen, o.trade_state) for o in sim.gateway.qr.orders()]
                assert rows == [("wechat", 500, "SUCCESS")]

    asyncio.run(scenario())
