"""Driving a whole simulated shop from tests: chip, swipe, PIN pad keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from simulator.devices.card_image import CardImage
from simulator.shop import Shop
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import TerminalConfig

WIND_DOWN = 3600.0


def simulation(tmp_path: Path, seed: int = 0, **terminal: object) -> Shop:
    config = TerminalConfig.load()
    if terminal:
        document = {"emv": terminal}
        config = TerminalConfig.from_mapping(document)
    return Shop(config, tmp_path, seed=seed)


def run_sale(
    sim: Shop,
    amount_fen: int,
    *actions: Callable[[Shop], object],
) -> SaleResult:
    """Start a sale, then do each action once the terminal waits again."""
    with sim.clock.actor():
        sale = sim.hands.start_sale(amount_fen)
        sim.clock.settle()
        for action in actions:
            action(sim)
            sim.clock.settle()
        result = sale.wait(WIND_DOWN)
    assert result is not None, sim.view.screen().text()
    return result


def insert(card: CardImage) -> Callable[[Shop], object]:
    def act(sim: Shop) -> object:
        sim.hands.insert_card(card)
        return None

    return act


def remove(sim: Shop) -> object:
    return sim.hands.remove_card()


def swipe(card: CardImage) -> Callable[[Shop], object]:
    def act(sim: Shop) -> object:
        sim.hands.swipe_card(card)
        return None

    return act


def pin(digits: str) -> Callable[[Shop], object]:
    def act(sim: Shop) -> object:
        assert sim.view.awaiting_pin, sim.view.screen().text()
        return sim.hands.type_pin(digits)

    return act


def key(name: str) -> Callable[[Shop], object]:
    def act(sim: Shop) -> object:
        assert sim.view.awaiting_key, sim.view.screen().text()
        return sim.hands.press(name)

    return act


def gateway_requests(sim: Shop, mti: str = "0200") -> list[dict[str, str]]:
    """The described fields of the messages the gateway received."""
    return [
        {key: field["value"] for key, field in message.payload.fields.items()}
        for message in sim.view.iso8583()
        if message.payload.mti == mti and message.payload.direction == "in"
    ]


def everything_written(sim: Shop) -> str:
    """Every event, the journal and the ledger files, as text, for leak checks."""
    text = json.dumps([event.to_json() for event in sim.bus.events], ensure_ascii=False)
    for name in ("journal.sqlite", "ledger.sqlite"):
        for path in sim.workdir.glob(name + "*"):
            text += path.read_bytes().decode("latin-1")
    return text
