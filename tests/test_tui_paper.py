"""Receipts drawn as the paper looks (issue 21 item 2): the printer panel shows the
virtual printer's own rendering of the receipt's pictures in half blocks, so the
e-receipt QR on screen decodes (zbar, on the cells the terminal shows) to the QR the
receipt printed; the text stays text, the masked PAN the only PAN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image
from test_tui_app import CARD, buy_by_keys, make_simulation
from tui_capture import decode_qr, shown_lines

from simulator.devices import cards
from simulator.devices.printer.paper import LineKind
from simulator.tui.app import PossimApp
from simulator.tui.paper_art import picture
from simulator.tui.widgets.printer import PaperRoll

pytestmark = pytest.mark.system_package("libzbar0")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_the_receipts_qr_on_screen_decodes_to_the_printed_one(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card=CARD)
            async with app.run_test(size=size) as pilot:
                await buy_by_keys(pilot, app)
                printed = [qr for r in sim.view.cut_receipts() for qr in r.qr_codes]
                assert printed, "the receipts print no QR to compare with"
                roll = app.query_one(PaperRoll)
                if size == (80, 24):  # 9 rows of panel: `v` gives the roll the screen
                    await pilot.press("v")
                    await pilot.pause()
                    assert app.screen.maximized is roll
                pictures = list(roll.query(".-picture"))
                assert pictures, "no picture drawn in the printer panel"
                seen: list[str] = []
                for shown in pictures:
                    roll.scroll_to_widget(shown, animate=False, top=True)
                    await pilot.pause()
                    region = roll.content_region
                    rows = shown_lines(app)[region.y : region.bottom]
                    seen += decode_qr([row[region.x : region.right] for row in rows])
                assert printed[0] in seen, (printed, seen)
                assert set(seen) <= set(printed)
                panel = "\n".join(shown_lines(app))
                card = cards.load(CARD)
                assert card.pan not in panel and card.pan not in roll.text
                assert card.masked_pan in roll.text
                assert "[QR:" not in "\n".join(str(s.render()) for s in roll.query("Static"))

    asyncio.run(scenario())


def test_an_image_wider_than_the_panel_is_resampled_to_fit_but_a_qr_keeps_its_modules() -> None:
    paper = Image.new("1", (384, 200), 255)
    paper.paste(0, (100, 10, 300, 190))
    art = picture(paper, LineKind.IMAGE, 0, 20)
    assert max(len(row) for row in art.splitlines()) <= 20
    assert "█" in art
    # 200 dots of module 4: 50 modules, one column each, and a quiet column each side.
    qr = picture(paper, LineKind.QR, 4, 20)
    assert max(len(row) for row in qr.splitlines()) == 52
