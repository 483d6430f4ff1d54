"""The layout follows content and space: what matters is on screen, whole, at 80x24 and up.

Asserted on what the terminal would show (the compositor's rows), not on
widget state: a widget can hold all five methods and still be drawn three
rows tall. The dynamic QR is read back off the screen by zbar
(``tests/tui_capture.py``) and must be the payload the gateway issued.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from test_tui_app import make_simulation, screen_of, until
from test_tui_qr import choose
from textual.pilot import Pilot
from tui_capture import decode_qr, shown_lines

from simulator.devices import cards
from simulator.tui.app import PossimApp
from simulator.tui.counter import METHODS

SIZES = [(80, 24), (120, 40)]
CARD = "unionpay_debit"


def visible(app: PossimApp) -> str:
    return "\n".join(shown_lines(app))


async def wrong_pin_then_two_digits(pilot: Pilot[None], app: PossimApp) -> None:
    """A card sale, a wrong PIN, then two digits of the retry typed."""
    await pilot.press(*"1234", "enter", "enter")
    await until(pilot, lambda: screen_of(app).screen_id == "present_card", "present card")
    await pilot.press("i")
    await until(pilot, lambda: screen_of(app).screen_id == "enter_pin", "PIN prompt")
    wrong = "0000" if cards.load(CARD).pin != "0000" else "1111"
    await pilot.press(*wrong, "enter")
    await until(pilot, lambda: "Wrong PIN" in screen_of(app).text, "the retry prompt")
    await pilot.press("1", "2")
    await until(pilot, lambda: "**" in screen_of(app).text, "two asterisks")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_method_menu_shows_all_five_methods(tmp_path: Path, size: tuple[int, int]) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=size) as pilot:
                await pilot.press(*"1234", "enter")
                await until(pilot, lambda: app.counter.choosing_method, "the method choice")
                await pilot.pause()
                shown = visible(app)
                for number, method in enumerate(METHODS, 1):
                    assert f"{number} {method.label}" in shown, shown
                # ... and going back to the amount shrinks the screen's content again.
                await pilot.press("backspace")
                await until(pilot, lambda: not app.counter.choosing_method, "back to the amount")
                await pilot.pause()
                assert METHODS[-1].label not in visible(app)
                assert "RMB 12.34" in visible(app)

    asyncio.run(scenario())


@pytest.mark.system_package("libzbar0")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_dynamic_qr_on_screen_decodes_to_the_gateways_payload(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=size) as pilot:
                await choose(pilot, app, "1234", "3")
                await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
                await pilot.pause()
                issued = [order.qr_payload for order in sim.view.qr_orders()]
                assert len(issued) == 1 and issued[0]
                assert decode_qr(shown_lines(app)) == issued
                assert "RMB 12.34" in visible(app)

    asyncio.run(scenario())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_after_a_wrong_pin_the_typed_asterisks_stay_on_screen(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=size) as pilot:
                await wrong_pin_then_two_digits(pilot, app)
                shown = visible(app)
                assert "Wrong PIN" in shown
                assert re.search(r"┃ +\*\* +┃", shown), shown  # inside the screen's frame

    asyncio.run(scenario())


@pytest.mark.system_package("libzbar0")
def test_small_large_small_the_screen_follows(tmp_path: Path) -> None:
    """A QR at 80x24 takes the keypad's rows; at 120x40 both fit; back at 80x24 again."""

    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await choose(pilot, app, "1234", "3")
                await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
                issued = [order.qr_payload for order in sim.view.qr_orders()]
                for width, height, keypad in ((80, 24, False), (120, 40, True), (80, 24, False)):
                    await pilot.resize_terminal(width, height)
                    await pilot.pause()
                    assert app.query_one("#keypad").display is keypad, (width, height)
                    assert decode_qr(shown_lines(app)) == issued, (width, height)

    asyncio.run(scenario())
