"""The TUI's tap (issue 19 item 6): the chosen contactless card held to the reader's field
by a key, as scenarios/contactless_quickpass_no_cvm.yaml does with ``tap_card``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_tui_app import make_simulation, screen_of, until
from tui_capture import shown_lines

from simulator.devices import cards
from simulator.gateway.server import HostIsoMessage
from simulator.terminal.display import ScreenShown
from simulator.tui.app import PossimApp
from simulator.tui.widgets.printer import PaperRoll

QUICKPASS = "quickpass_debit"


def test_a_quickpass_tap_of_88_is_approved_with_no_pin(tmp_path: Path) -> None:
    # UnionPay's 2018-06-01 notice: no PIN, no signature up to RMB 1000 (小额免密免签).
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=QUICKPASS)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                assert " tap " in shown_lines(app)[-1] + " ", shown_lines(app)[-1]
                titles = [c.title for c in app.get_system_commands(app.screen)]
                assert "Tap the card" in titles
                await pilot.press(*"8800", "enter")
                await until(pilot, lambda: app.counter.choosing_method, "the method choice")
                await pilot.press("enter")
                await until(pilot, lambda: screen_of(app).screen_id == "present_card", "present")
                await pilot.press("a")
                await until(
                    pilot, lambda: len(app.query_one(PaperRoll).receipts) == 2, "two receipts"
                )
                await until(pilot, lambda: screen_of(app).screen_id == "paid", "paid")
                screens = [
                    e.payload.screen.value
                    for e in sim.view.events(0)
                    if isinstance(e.payload, ScreenShown)
                ]
                assert "enter_pin" not in screens, screens
                assert "approved" in screens, screens
                paper = app.query_one(PaperRoll).text
                card = cards.load(QUICKPASS)
                assert card.masked_pan in paper and card.pan not in paper
                assert "RMB 88.00" in paper and "CARDHOLDER SIGNATURE" not in paper
                host = [
                    e.payload for e in sim.view.events(0) if isinstance(e.payload, HostIsoMessage)
                ]
            # Entry mode 071: contactless (the scenario's expect_gateway); 39 = 00: approved.
            assert [(m.mti, m.fields["22"]["value"]) for m in host if m.mti == "0200"] == [
                ("0200", "071")
            ]
            assert [m.fields["39"]["value"] for m in host if m.mti == "0210"] == ["00"]
            ledger = sim.gateway.ledger.transactions()
            assert [(e.status.value, e.amount) for e in ledger] == [("approved", 8800)]

    asyncio.run(scenario())


def test_tap_is_offered_only_for_a_card_with_an_antenna(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            contact_only = next(n for n in app_cards() if not cards.load(n).contactless)
            app = PossimApp(sim, card=contact_only)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause()
                titles = [c.title for c in app.get_system_commands(app.screen)]
                assert "Tap the card" not in titles
                assert " tap " not in shown_lines(app)[-1] + " "

    asyncio.run(scenario())


def app_cards() -> list[str]:
    return sorted(cards.names())
