"""Driving a whole simulated shop from tests: chip, swipe, PIN pad keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from simulator.devices.card_image import CardImage
from simulator.simulation import Simulation
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import TerminalConfig

WIND_DOWN = 3600.0


def simulation(tmp_path: Path, seed: int = 0, **terminal: object) -> Simulation:
    config = TerminalConfig.load()
    if terminal:
        document = {"emv": terminal}
        config = TerminalConfig.from_mapping(document)
    return Simulation(config, tmp_path, seed=seed)


def run_sale(
    sim: Simulation,
    amount_fen: int,
    *actions: Callable[[Simulation], object],
) -> SaleResult:
    """Start a sale, then do each action once the terminal waits again."""
    with sim.clock.actor():
        sale = sim.terminal.start_sale(amount_fen)
        sim.clock.settle()
        for action in actions:
            action(sim)
            sim.clock.settle()
        result = sale.wait(WIND_DOWN)
    assert result is not None, sim.terminal.display.screen.text()
    return result


def insert(card: CardImage) -> Callable[[Simulation], object]:
    def act(sim: Simulation) -> object:
        reader = sim.world.card_reader
        assert reader is not None
        reader.insert(sim.world.card(card))
        return None

    return act


def remove(sim: Simulation) -> object:
    reader = sim.world.card_reader
    assert reader is not None
    return reader.remove()


def swipe(card: CardImage) -> Callable[[Simulation], object]:
    def act(sim: Simulation) -> object:
        reader = sim.world.magstripe_reader
        assert reader is not None
        reader.swipe(card)
        return None

    return act


def pin(digits: str) -> Callable[[Simulation], object]:
    def act(sim: Simulation) -> object:
        pad = sim.world.pin_pad
        assert pad is not None and pad.awaiting_pin, sim.terminal.display.screen.text()
        return pad.type_pin(digits)

    return act


def key(name: str) -> Callable[[Simulation], object]:
    def act(sim: Simulation) -> object:
        pad = sim.world.pin_pad
        assert pad is not None and pad.awaiting_key, sim.terminal.display.screen.text()
        return pad.press(name)

    return act


def gateway_requests(sim: Simulation, mti: str = "0200") -> list[dict[str, str]]:
    """The described fields of the messages the gateway received."""
    return [
        {key: field["value"] for key, field in event.detail["fields"].items()}
        for event in sim.bus.of(source="gateway", kind="iso8583")
        if event.detail.get("mti") == mti and event.detail.get("direction") == "in"
    ]


def everything_written(sim: Simulation) -> str:
    """Every event, the journal and the ledger files, as text, for leak checks."""
    text = json.dumps([event.to_json() for event in sim.bus.events], ensure_ascii=False)
    for name in ("journal.sqlite", "ledger.sqlite"):
        for path in sim.workdir.glob(name + "*"):
            text += path.read_bytes().decode("latin-1")
    return text
