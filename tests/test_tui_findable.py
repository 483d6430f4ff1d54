"""What a person needs is on screen (issue 21): the card's PIN, the context's actions in
the footer and the palette, where a hidden panel went, and a question before quitting
mid-payment. Asserted on what the terminal shows (the compositor's rows)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_tui_app import make_simulation, screen_of, until
from tui_capture import shown_lines

from simulator.devices import cards
from simulator.tui.app import PossimApp
from simulator.tui.screens.confirm_quit import ConfirmQuitScreen

CARD = "unionpay_debit"


def test_the_card_slot_shows_the_chosen_cards_pin_and_what_it_does(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                shown = "\n".join(shown_lines(app))
                assert f"PIN {cards.load(CARD).pin}" in shown, shown
                await pilot.press("right_square_bracket")
                chosen = app.counter.card
                assert chosen != CARD
                await until(
                    pilot,
                    lambda: f"PIN {cards.load(chosen).pin}" in "\n".join(shown_lines(app)),
                    "the next card's PIN",
                )

    asyncio.run(scenario())


def test_the_footer_at_80x24_reaches_help_and_quit(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                footer = shown_lines(app)[-1]
                for shown in ("insert", "scan", "paper", "help", "quit"):
                    assert shown in footer, footer

    asyncio.run(scenario())


def test_the_palette_carries_what_can_be_done_now(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(120, 40)) as pilot:
                titles = [c.title for c in app.get_system_commands(app.screen)]
                assert {"Insert the card", "Scan the payment code", "Paper out"} <= set(titles)
                assert "Remove the card" not in titles and "Customer pays" not in titles
                await pilot.press(*"1234", "enter", "3")
                await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
                titles = [c.title for c in app.get_system_commands(app.screen)]
                assert "Customer pays" in titles
                # Chosen from the palette, it does what `p` does.
                pays = next(
                    c for c in app.get_system_commands(app.screen) if c.title == "Customer pays"
                )
                await pays.callback()
                await until(pilot, lambda: screen_of(app).screen_id == "paid", "paid")

    asyncio.run(scenario())


def test_a_hidden_panel_says_where_it_went(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.press("e")
                await pilot.pause()
                said = [n.message for n in app._notifications]
                assert any("110 columns" in message for message in said), said

    asyncio.run(scenario())


def test_quitting_mid_payment_asks(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.press(*"1234", "enter", "enter")
                await until(pilot, lambda: screen_of(app).screen_id == "present_card", "card")
                await pilot.press("q")
                await until(pilot, lambda: isinstance(app.screen, ConfirmQuitScreen), "asked")
                assert "A payment is running" in "\n".join(shown_lines(app))
                await pilot.press("n")
                await until(pilot, lambda: not isinstance(app.screen, ConfirmQuitScreen), "back")
                assert app.is_running
                await pilot.press("q")
                await until(pilot, lambda: isinstance(app.screen, ConfirmQuitScreen), "asked")
                await pilot.press("y")
                await until(pilot, lambda: not app.is_running, "quit")

    asyncio.run(scenario())


def test_the_approved_screen_is_held_as_a_terminal_holds_it(tmp_path: Path) -> None:
    """Approved, then Remove card: the result is drawn and stays (issue 21: it was never
    visible, replaced in the same burst of events)."""

    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.press(*"1234", "enter", "enter")
                await until(pilot, lambda: screen_of(app).screen_id == "present_card", "card")
                await pilot.press("i")
                await until(pilot, lambda: screen_of(app).screen_id == "enter_pin", "PIN")
                await pilot.press(*cards.load(CARD).pin, "enter")
                await until(pilot, lambda: screen_of(app).screen_id == "approved", "approved")
                assert "Approved" in "\n".join(shown_lines(app))
                assert sim.view.screen().id.value == "remove_card"  # the model moved on
                await until(pilot, lambda: screen_of(app).screen_id == "remove_card", "remove")

    asyncio.run(scenario())
