"""The simulated hardware around one terminal.

``sim://`` factories create virtual devices here, so whoever drives the
simulation (scenario runner, TUI, pytest fixtures) can act on the hardware side
-- insert a card, press keys, pull the paper -- while the terminal only ever
holds drivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from drivers.clock import Clock
from drivers.errors import DeviceUnavailable
from drivers.registry import DeviceContext
from simulator.devices.card import VirtualCard

if TYPE_CHECKING:
    from simulator.devices.card_image import CardImage
    from simulator.devices.card_reader import SimCardReader
    from simulator.devices.card_slot import CardSlot
    from simulator.devices.magstripe_reader import VirtualMagstripeReader
    from simulator.devices.pin_pad import VirtualPinPad
    from simulator.devices.printer import VirtualPrinter
    from simulator.devices.printer.port import PrinterPort
    from simulator.devices.scanner import VirtualScanner
    from simulator.devices.scanner_link import PtyScannerHand
    from simulator.devices.speaker import VirtualSpeaker


@attrs.define
class SimulatedWorld:
    clock: Clock
    card_reader: SimCardReader | None = None
    # Where the cardholder inserts and removes cards: the in-process reader
    # itself (sim://), or a vpcd slot behind the real PC/SC stack (pcsc).
    card_slot: CardSlot | None = None
    pin_pad: VirtualPinPad | None = None
    printer: VirtualPrinter | None = None
    # Where the cashier scans codes: in process, or through a pty (scanner_link).
    scanner: VirtualScanner | PtyScannerHand | None = None
    speaker: VirtualSpeaker | None = None
    magstripe_reader: VirtualMagstripeReader | None = None
    # Every transport feeds the printer through its port (fault injection);
    # printer_server is what carries the bytes (USB backend, pty, TCP listener)
    # when the terminal does not reach the printer in process.
    printer_port: PrinterPort | None = None
    printer_server: object | None = None
    # A user-space pyusb backend the usb:// printer driver finds devices on.
    usb_backend: object | None = None
    # The cardholders' cards: one stateful card per image (ATC, PIN tries).
    wallet: dict[str, VirtualCard] = attrs.field(factory=dict)

    def card(self, image: CardImage) -> VirtualCard:
        if image.name not in self.wallet:
            self.wallet[image.name] = VirtualCard(image)
        return self.wallet[image.name]

    @classmethod
    def of(cls, context: DeviceContext) -> SimulatedWorld:
        world = context.simulation
        if not isinstance(world, SimulatedWorld):
            raise DeviceUnavailable(
                "sim:// devices live in a simulated world: open them through possim "
                "(possim run / possim tui / the pytest plugin), not standalone"
            )
        return world
