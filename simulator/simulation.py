"""A whole simulated shop in one object: virtual clock, event bus, simulated
devices, the built-in acquirer host on loopback, and one terminal.

The scenario runner, the demo, the benchmarks and the tests all build their
world through this class, so they exercise the same wiring.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from types import TracebackType

from simulator.clock import DEFAULT_EPOCH, VirtualClock
from simulator.devices.card_image import CardImage
from simulator.devices.world import SimulatedWorld
from simulator.errors import ConfigError, TerminalError
from simulator.events import EventBus
from simulator.gateway.builtin import BuiltinGateway
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import HostEndpoint, TerminalConfig
from simulator.terminal.terminal import Terminal

# Virtual seconds a sale still running at shutdown may take to wind down
# (timeouts firing, reversals going out) before the simulation closes.
_WIND_DOWN = 3600.0


class Simulation:
    def __init__(
        self,
        config: TerminalConfig,
        workdir: Path,
        *,
        seed: int = 0,
        start: datetime = DEFAULT_EPOCH,
    ) -> None:
        if not config.uses_builtin_gateway:
            raise ConfigError(
                config.source or "<config>",
                'a simulation runs against the built-in gateway (gateway.card = "builtin"); '
                "external hosts need the real clock",
            )
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.clock = VirtualClock(start)
        self.bus = EventBus(self.clock)
        self.world = SimulatedWorld(self.clock)
        # Separate streams so the gateway's choices do not shift the terminal's.
        self.gateway = BuiltinGateway(
            workdir / "ledger.sqlite", clock=self.clock, bus=self.bus, rng=random.Random(seed + 1)
        )
        host, port = self.gateway.start()
        try:
            self.terminal = Terminal(
                config,
                clock=self.clock,
                bus=self.bus,
                rng=random.Random(seed),
                workdir=workdir,
                host=HostEndpoint(host, port),
                simulation=self.world,
            )
        except BaseException:
            self.gateway.stop()
            raise

    def pay_by_card(
        self, amount_fen: int, card: CardImage, *, pin: str | None = None
    ) -> SaleResult:
        """One card sale the way a cardholder does it: insert, PIN, remove."""
        reader, pad = self.world.card_reader, self.world.pin_pad
        if reader is None or pad is None:
            raise ConfigError(
                self.terminal.config.source or "<config>",
                "pay_by_card needs the simulated card reader and PIN pad (sim://)",
            )
        with self.clock.actor():
            sale = self.terminal.start_sale(amount_fen)
            self.clock.settle()
            reader.insert(self.world.card(card))
            self.clock.settle()
            if pad.awaiting_pin:
                pad.type_pin(card.pin if pin is None else pin)
                self.clock.settle()
            reader.remove()
            result = sale.wait(_WIND_DOWN)
        if result is None:
            raise TerminalError(f"the sale did not finish: {self.terminal.display.screen.text()}")
        return result

    def close(self) -> None:
        sale = self.terminal.current_sale
        if sale is not None and not sale.finished:
            self.clock.wait_until(lambda: sale.finished, _WIND_DOWN)
        self.terminal.close()
        self.gateway.stop()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
