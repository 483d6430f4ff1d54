"""The TUI's device side: simulated/real badges, printer fault toggles, method choice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
from test_tui_app import buy_by_keys, make_simulation, screen_of, until

from simulator.terminal.config import TerminalConfig
from simulator.tui.app import PossimApp
from simulator.tui.badges import device_badges
from simulator.tui.widgets.device_badges import DeviceBadges
from simulator.tui.widgets.printer import PaperRoll


def _with_urls(**urls: str) -> TerminalConfig:
    config = TerminalConfig.load()
    return attrs.evolve(config, devices=attrs.evolve(config.devices, **urls))


def test_badges_tell_simulated_from_real_devices_by_url() -> None:
    sim = _with_urls(
        printer="usb://0416:5011",
        scanner="sim://?transport=pty",
        speaker="espeak://cmn-latn-pinyin",
    )
    badges = {b.device: (b.simulated, b.how) for b in device_badges(sim, "sim")}
    assert badges["printer"] == (False, "usb")
    assert badges["scanner"] == (True, "sim/pty")
    assert badges["speaker"] == (False, "espeak")
    assert badges["card"] == (True, "sim")
    assert badges["host"] == (True, "sim") and badges["QR"] == (True, "sim")


def test_a_pcsc_reader_with_a_vpcd_card_is_a_simulated_card_on_the_real_stack() -> None:
    sim = device_badges(_with_urls(card_reader="pcsc://Virtual%20PCD%2000%2000"), "pcsc")
    assert sim[0].how == "pcsc+vpcd" and sim[0].simulated
    real = device_badges(_with_urls(card_reader="pcsc://ACS%20ACR39U"), "sim")
    assert real[0] == real[0].__class__("card", False, "pcsc", "pcsc://ACS%20ACR39U")


def test_the_app_shows_a_badge_per_device(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                shown = app.query_one(DeviceBadges).badges
                assert [b.text for b in shown] == [
                    b.text for b in device_badges(sim.view.config, "sim")
                ]
                assert all(b.simulated for b in shown)
                assert app.query_one(DeviceBadges).region.height >= 1

    asyncio.run(scenario())


def test_cover_open_holds_the_receipts_until_it_is_closed(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                printer = app.query_one(PaperRoll)
                await pilot.press("c")
                await until(pilot, lambda: printer.cover_open, "cover open")
                assert "COVER OPEN" in str(printer.border_title)
                await buy_by_keys(pilot, app, ending="printer_fault", receipts=0)
                await pilot.press("c")
                await until(pilot, lambda: not printer.cover_open, "cover closed")
                await until(
                    pilot,
                    lambda: screen_of(app).screen_id == "paid" and len(printer.receipts) == 2,
                    "both receipts after the cover closed",
                )
                assert sim.world.printer_port is not None
                assert len(sim.world.printer_port.receipts()) == 2

    asyncio.run(scenario())


def test_paper_out_then_refill_prints_both_copies(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                printer = app.query_one(PaperRoll)
                await pilot.press("x")
                await until(pilot, lambda: printer.paper_out, "paper out")
                await buy_by_keys(pilot, app, ending="printer_fault", receipts=0)
                assert "打印机缺纸" in screen_of(app).text
                await pilot.press("x")  # a new roll
                await until(
                    pilot,
                    lambda: screen_of(app).screen_id == "paid" and len(printer.receipts) == 2,
                    "both receipts after the refill",
                )
                assert not printer.paper_out and not printer.has_class("-fault")

    asyncio.run(scenario())


def test_the_method_choice_goes_back_and_cancels(tmp_path: Path) -> None:
    async def scenario() -> None:
        with make_simulation(tmp_path) as sim:
            app = PossimApp(sim, card="unionpay_debit")
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("1", "0", "0", "enter")
                await until(pilot, lambda: app.counter.choosing_method, "the choice")
                await pilot.press("backspace")  # CLR: back to the amount
                await until(pilot, lambda: not app.counter.choosing_method, "back")
                assert "RMB 1.00" in screen_of(app).text
                await pilot.press("enter")
                await until(pilot, lambda: app.counter.choosing_method, "the choice again")
                await pilot.press("9")  # no such method: nothing happens
                await pilot.press("escape")  # CANCEL: no sale, no amount
                await until(pilot, lambda: not app.counter.choosing_method, "cancelled")
                assert app.counter.amount_digits == "" and not sim.terminal.busy
                assert sim.terminal.current_sale is None

    asyncio.run(scenario())
