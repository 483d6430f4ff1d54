"""``possim tui`` paints its first screen before the shop exists (issue 21, "Fast").

The shop is built on its own thread after the first paint; these tests hold that
build on a :class:`threading.Event` so "before the shop is ready" is a state the
test controls, not a race it hopes to win.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from simulator.errors import SimulatorError
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.tui.app import STARTING_TITLE, PossimApp
from tests.test_tui_app import CARD, screen_of, until

BUILD_DEADLINE = 60.0  # real seconds the held build waits for the test at most


class HeldBuild:
    """A shop factory that waits until the test lets it go."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self) -> Shop:
        self.started.set()
        if not self.release.wait(BUILD_DEADLINE):
            raise AssertionError("the test never released the shop's build")
        return Shop(TerminalConfig.load(), self.tmp_path, seed=0)


def test_the_first_screen_shows_before_the_shop_and_early_keys_wait(tmp_path: Path) -> None:
    build = HeldBuild(tmp_path)

    async def scenario() -> None:
        app = PossimApp(card=CARD, build_shop=build)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, build.started.is_set, "the shop's build to start")
                screen = screen_of(app)
                assert not app.ready
                assert screen.screen_id == "starting"
                assert screen.title == STARTING_TITLE
                # An amount typed while the terminal starts: kept, not lost, no crash.
                await pilot.press("1", "2", "5")
                await pilot.pause()
                assert not app.ready and screen.amount == ""
                build.release.set()
                await until(pilot, lambda: app.ready, "the shop to be ready")
                await until(pilot, lambda: "RMB 1.25" in screen.text, "the early keys' amount")
                assert app.counter.amount_digits == "125"
                await pilot.press("escape")
                await until(pilot, lambda: screen.amount == "", "the amount cancelled")
                assert "Welcome" in screen.title
        finally:
            build.release.set()
            app.close_shop()
        assert app.built is not None and app.startup_error is None

    asyncio.run(scenario())


def test_quitting_while_the_shop_starts_closes_it_once_built(tmp_path: Path) -> None:
    build = HeldBuild(tmp_path)

    async def scenario() -> None:
        app = PossimApp(card=CARD, build_shop=build)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, build.started.is_set, "the shop's build to start")
            await pilot.press("q")  # nothing runs yet: quits without asking
            await until(pilot, lambda: not app.is_running, "the app to exit")
        build.release.set()
        app.close_shop()  # waits for the build, then closes what it built
        assert app.built is not None and not app.ready

    asyncio.run(scenario())


def test_a_shop_that_cannot_be_built_ends_the_app_with_its_error(tmp_path: Path) -> None:
    def broken() -> Shop:
        raise SimulatorError("no terminal configuration named 'nosuch'")

    async def scenario() -> None:
        app = PossimApp(card=CARD, build_shop=broken)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.startup_error is not None, "the build's error")
        app.close_shop()
        assert isinstance(app.startup_error, SimulatorError)
        assert app.return_code == 1

    asyncio.run(scenario())


def test_the_app_takes_a_shop_or_a_factory_not_both(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one of them"):
        PossimApp()
