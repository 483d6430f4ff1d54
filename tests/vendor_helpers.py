"""A simulated shop whose terminal runs one vendor's acquiring app, and a cashier app's
request sent to it as that vendor's documentation (or its calling apps) build it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import attrs
from sim_helpers import WIND_DOWN

from simulator.devices import cards
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.contract import IntentRequest, IntentResult

DEBIT = cards.load("unionpay_debit")


def vendor_shop(tmp_path: Path, vendor: str, seed: int = 1) -> Shop:
    return Shop(attrs.evolve(TerminalConfig.load(), vendor=vendor), tmp_path, seed=seed)


def send(sim: Shop, request: IntentRequest, *actions: Callable[[Shop], object]) -> IntentResult:
    """``request`` to the acquiring app on its own thread (as the vendor's app runs);
    each action once the terminal waits again; the vendor's answer."""
    answer: list[IntentResult] = []
    started = threading.Event()

    def run() -> None:
        with sim.clock.actor():
            started.set()
            answer.append(sim.terminal.acquiring_app.on_intent(request))

    with sim.clock.actor():
        thread = threading.Thread(target=run, name="possim-vendor-app", daemon=True)
        thread.start()
        started.wait()
        sim.clock.settle()
        for action in actions:
            action(sim)
            sim.clock.settle()
        assert sim.clock.wait_until(lambda: bool(answer), WIND_DOWN), sim.view.screen().text()
    thread.join()
    return answer[0]


def card_paid(card: str = "") -> tuple[Callable[[Shop], object], ...]:
    """Insert the debit card, type its PIN, take it out."""
    from sim_helpers import insert, pin, remove

    return (insert(DEBIT), pin(card or DEBIT.pin), remove)


def cardholder_cancels() -> tuple[Callable[[Shop], object], ...]:
    """Insert the card, press CANCEL on the PIN pad, take it out."""
    from sim_helpers import insert, remove

    def cancel(sim: Shop) -> object:
        assert sim.view.awaiting_pin, sim.view.screen().text()
        return sim.hands.press("CANCEL")

    return (insert(DEBIT), cancel, remove)
