"""The acquirer host simulator assembled: ledger, issuers, magic amounts,
codec and TCP server. Used by ``possim gateway serve`` and by simulations."""

from __future__ import annotations

import random
from pathlib import Path

from drivers.clock import Clock
from simulator.events import EventBus
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.issuers import DEFAULT_ISSUERS, IssuerDirectory
from simulator.gateway.ledger import Ledger
from simulator.gateway.magic import DEFAULT_MAGIC_AMOUNTS, MagicAmounts
from simulator.gateway.pins import DEFAULT_TERMINALS, PinVerifier, TerminalKeys
from simulator.gateway.server import GatewayServer
from simulator.wire.iso8583 import DEFAULT_SPEC, Framing, Iso8583Codec, Iso8583Spec


class BuiltinGateway:
    def __init__(
        self,
        ledger_path: Path,
        *,
        clock: Clock,
        bus: EventBus,
        rng: random.Random,
        spec: str = DEFAULT_SPEC,
        host: str = "127.0.0.1",
        port: int = 0,
        tpdu_length: int = 0,
        allow_remote: bool = False,
        issuers: str = DEFAULT_ISSUERS,
        magic_amounts: str = DEFAULT_MAGIC_AMOUNTS,
        terminals: str = DEFAULT_TERMINALS,
    ) -> None:
        self.spec = Iso8583Spec.load(spec)
        self.framing = Framing(tpdu_length)
        codec = Iso8583Codec(self.spec)
        # Load every fixture before opening the ledger, so a typo leaves no file behind.
        directory = IssuerDirectory.load(issuers)
        magic = MagicAmounts.load(magic_amounts)
        pins = PinVerifier(TerminalKeys.load(terminals))
        self.ledger = Ledger(ledger_path, clock)
        self.acquirer = AcquirerHost(self.ledger, directory, magic, clock, rng, codec, pins=pins)
        self.server = GatewayServer(
            self.acquirer, codec, self.framing, clock, bus, host, port, allow_remote=allow_remote
        )

    def start(self) -> tuple[str, int]:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.ledger.close()
