"""The TUI driven headless by keys alone: a whole card purchase, and 80x24."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from simulator.devices import cards
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.tui.app import PossimApp
from simulator.tui.widgets.ledger import LedgerPanel
from simulator.tui.widgets.printer import PaperRoll
from simulator.tui.widgets.speaker import SpeakerLog
from simulator.tui.widgets.terminal_screen import TerminalScreen

CARD = "unionpay_debit"
# Each look waits for the app's message queue, then (if still not there) a
# little real time for the simulation's threads: bounded, never a fixed sleep.
LOOKS = 400


async def until(pilot: Pilot[None], ready: Callable[[], bool], what: str) -> None:
    for _ in range(LOOKS):
        await pilot.pause()
        if ready():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def screen_of(app: PossimApp) -> TerminalScreen:
    return app.query_one(TerminalScreen)


async def buy_by_keys(
    pilot: Pilot[None],
    app: PossimApp,
    amount: str = "1234",
    *,
    ending: str = "paid",
    receipts: int = 2,
) -> None:
    """Type the amount, OK, OK (card), insert the chosen card, PIN, OK, remove the card;
    then wait for the ``ending`` screen and that many receipts."""
    sim = app.shop
    await pilot.press(*amount, "enter")
    await until(pilot, lambda: app.counter.choosing_method, "the payment method choice")
    await pilot.press("enter")
    await until(pilot, lambda: screen_of(app).screen_id == "present_card", "present card")
    await pilot.press("i")
    await until(pilot, lambda: screen_of(app).screen_id == "enter_pin", "PIN prompt")
    await pilot.press(*cards.load(CARD).pin, "enter")
    await until(pilot, lambda: screen_of(app).screen_id == "remove_card", "remove card")
    await pilot.press("r")
    sale = sim.terminal.current_sale
    assert sale is not None
    await until(
        pilot,
        lambda: (
            (sale.finished or ending == "printer_fault")
            and len(app.query_one(PaperRoll).receipts) == receipts
        ),
        f"the sale and its {receipts} receipts",
    )
    await until(pilot, lambda: app.query_one(LedgerPanel).entries != [], "ledger")
    await until(pilot, lambda: screen_of(app).screen_id == ending, f"{ending} screen")


def make_simulation(tmp_path: Path) -> Shop:
    return Shop(TerminalConfig.load(), tmp_path, seed=0)


def test_a_whole_card_purchase_by_keys_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("1", "2", "3", "4")
                await until(pilot, lambda: "RMB 12.34" in screen_of(app).text, "amount entry")
                await buy_by_keys(pilot, app, amount="")
                screen = screen_of(app)
                assert "Payment received" in screen.title
                assert "RMB 12.34" in screen.text
                paper = app.query_one(PaperRoll).text
                masked = cards.load(CARD).masked_pan
                assert masked in paper
                assert cards.load(CARD).pan not in paper
                assert "RMB 12.34" in paper
                assert app.query_one(SpeakerLog).utterances
                entries = app.query_one(LedgerPanel).entries
                assert [(e.status.value, e.amount, e.masked_pan) for e in entries] == [
                    ("approved", 1234, masked)
                ]
                result = sim.terminal.current_sale.result  # type: ignore[union-attr]
                assert result is not None and result.approved
            ledger = sim.gateway.ledger.transactions()
            assert [(e.status.value, e.amount) for e in ledger] == [("approved", 1234)]

    asyncio.run(scenario())


def test_amount_entry_clear_and_cancel(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("0", "5", "0", "0", "backspace")
                await until(pilot, lambda: "RMB 0.50" in screen_of(app).text, "RMB 0.50")
                await pilot.press("escape")
                await until(pilot, lambda: screen_of(app).amount == "", "amount cleared")
                await pilot.press("enter")  # OK with no amount starts nothing
                await pilot.pause()
                assert not sim.terminal.busy

    asyncio.run(scenario())


def test_80x24_renders_the_pos_and_hides_the_side_panels(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                assert app.screen.has_class("-narrow")
                assert not app.query_one("#what").display
                for widget in (TerminalScreen, PaperRoll):
                    region = app.query_one(widget).region
                    assert region.width > 0 and region.height > 0
                    assert region.right <= 80 and region.bottom <= 24
                await buy_by_keys(pilot, app)
                assert screen_of(app).screen_id == "paid"

    asyncio.run(scenario())


def test_help_screen_lists_the_keys(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("f1")
                await pilot.pause()
                assert type(app.screen).__name__ == "HelpScreen"
                await pilot.press("escape")
                await pilot.pause()
                assert type(app.screen).__name__ != "HelpScreen"
                assert not sim.terminal.busy

    asyncio.run(scenario())


def test_a_screenshot_goes_to_a_folder_that_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual's default is ~/Downloads, which a fresh account does not have (issue 21)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home-without-downloads"))
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        with make_simulation(tmp_path / "work") as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                app.deliver_screenshot()
                folder = tmp_path / "possim-screenshots"
                await until(pilot, lambda: any(folder.glob("*.svg")), "the screenshot saved")
                said = [n.message for n in app._notifications]
                assert any(str(folder) in message for message in said), said

    asyncio.run(scenario())
