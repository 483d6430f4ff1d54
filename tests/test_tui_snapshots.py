"""Snapshots of the main screens at one fixed size, on the virtual clock.

The simulation starts at the same virtual instant with the same seed, so
order numbers, dates and the event log's times are the same on every run.
Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_tui_app import buy_by_keys, make_simulation, screen_of, until
from test_tui_layout import wrong_pin_then_two_digits
from textual.pilot import Pilot
from tui_capture import shown_lines

from simulator.shop import Shop
from simulator.tui.app import PossimApp
from simulator.tui.counter import METHODS
from simulator.tui.qr_art import qr_text
from simulator.tui.widgets.printer import PaperRoll

SIZE = (120, 40)
Compare = Callable[..., bool]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Shop]:
    with make_simulation(tmp_path) as simulation:
        yield simulation


def test_idle(snap_compare: Compare, sim: Shop) -> None:
    assert snap_compare(PossimApp(sim, card="unionpay_debit"), terminal_size=SIZE)


def test_amount_entry(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def typed(pilot: Pilot[None]) -> None:
        await pilot.press("1", "2", "3", "4")
        await until(pilot, lambda: "RMB 12.34" in screen_of(app).text, "amount entry")

    assert snap_compare(app, terminal_size=SIZE, run_before=typed)


def test_approved_with_receipt(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def bought(pilot: Pilot[None]) -> None:
        await buy_by_keys(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=bought)


def test_pin_entry(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def typing_the_pin(pilot: Pilot[None]) -> None:
        await pilot.press(*"1234", "enter", "enter")
        await until(pilot, lambda: screen_of(app).screen_id == "present_card", "present card")
        await pilot.press("i")
        await until(pilot, lambda: screen_of(app).screen_id == "enter_pin", "PIN prompt")
        await pilot.press("1", "2")
        await until(pilot, lambda: "**" in screen_of(app).text, "two asterisks")

    assert snap_compare(app, terminal_size=SIZE, run_before=typing_the_pin)


def test_declined(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def declined(pilot: Pilot[None]) -> None:
        # x.51: the simulated issuer answers 51, insufficient funds (magic_amounts.yaml).
        await buy_by_keys(pilot, app, amount="1251", ending="payment_failed", receipts=0)
        assert "51" in screen_of(app).text

    assert snap_compare(app, terminal_size=SIZE, run_before=declined)


def test_paper_out(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def paper_out(pilot: Pilot[None]) -> None:
        await pilot.press("x")
        await until(pilot, lambda: app.query_one(PaperRoll).paper_out, "paper out")
        await buy_by_keys(pilot, app, ending="printer_fault", receipts=0)
        assert "打印机缺纸" in screen_of(app).text

    assert snap_compare(app, terminal_size=SIZE, run_before=paper_out)


# -- the layout follows content and space (issue 21): each of these also asserts
# -- on what the terminal shows, so a stale snapshot cannot hide a clipped screen.

SMALL, LARGE = (80, 24), (120, 40)


def test_method_menu(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def menu(pilot: Pilot[None]) -> None:
        await pilot.press(*"1234", "enter")
        await until(pilot, lambda: app.counter.choosing_method, "the method choice")
        await pilot.pause()
        shown = "\n".join(shown_lines(app))
        assert all(method.label in shown for method in METHODS), shown

    assert snap_compare(app, terminal_size=LARGE, run_before=menu)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dynamic_qr(snap_compare: Compare, sim: Shop, size: tuple[int, int]) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def qr(pilot: Pilot[None]) -> None:
        await pilot.press(*"1234", "enter", "3")
        await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
        await pilot.pause()
        rows = qr_text(screen_of(app).qr_payload).splitlines()
        shown = "\n".join(shown_lines(app))
        assert all(row.strip() in shown for row in rows), shown  # every row of it, whole

    assert snap_compare(app, terminal_size=size, run_before=qr)


def test_wrong_pin_retry(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def retry(pilot: Pilot[None]) -> None:
        await wrong_pin_then_two_digits(pilot, app)
        assert re.search(r"┃ +\*\* +┃", "\n".join(shown_lines(app)))

    assert snap_compare(app, terminal_size=LARGE, run_before=retry)


def test_help_at_80x24(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def help_shown(pilot: Pilot[None]) -> None:
        await pilot.press("f1")
        await pilot.pause()
        shown = "\n".join(shown_lines(app))
        assert all(what in shown for _, what in app.KEYS_HELP), shown

    assert snap_compare(app, terminal_size=SMALL, run_before=help_shown)


def test_resize_small_large_small(snap_compare: Compare, sim: Shop) -> None:
    app = PossimApp(sim, card="unionpay_debit")

    async def resized(pilot: Pilot[None]) -> None:
        await pilot.press(*"1234", "enter", "3")
        await until(pilot, lambda: screen_of(app).screen_id == "show_qr", "the QR")
        rows = qr_text(screen_of(app).qr_payload).splitlines()
        for size, keypad in ((LARGE, True), (SMALL, False)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            shown = "\n".join(shown_lines(app))
            assert all(row.strip() in shown for row in rows), (size, shown)
            assert app.query_one("#keypad").display is keypad

    assert snap_compare(app, terminal_size=SMALL, run_before=resized)
