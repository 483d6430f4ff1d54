"""The simulated hardware around one terminal.

``sim://`` factories create virtual devices here, so whoever drives the
simulation (scenario runner, TUI, pytest fixtures) can act on the hardware side
-- insert a card, press keys, pull the paper -- while the terminal only ever
holds drivers.

The world owns what carries bytes to its devices (a printer's pty or TCP
listener): :meth:`SimulatedWorld.own` them, :meth:`SimulatedWorld.close` closes
them, after the terminal has closed its drivers. A driver closed and opened
again reaches the same device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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
    from simulator.devices.printer.transports.pty import PtyPrinter
    from simulator.devices.printer.transports.tcp import TcpPrinter
    from simulator.devices.printer.transports.usb import VirtualUsbPrinterBackend
    from simulator.devices.scanner import VirtualScanner
    from simulator.devices.scanner_link import PtyScannerHand
    from simulator.devices.speaker import VirtualSpeaker
    from simulator.devices.wedge import WedgeHand


@attrs.define
class SimulatedWorld:
    clock: Clock
    card_reader: SimCardReader | None = None
    # Where the cardholder inserts and removes cards: the in-process reader
    # itself (sim://), or a vpcd slot behind the real PC/SC stack (pcsc).
    card_slot: CardSlot | None = None
    # The PICC side of the dual-interface reader: where cards are tapped (in
    # process, or a vpcd slot named like a real reader's PICC reader).
    contactless_reader: SimCardReader | None = None
    picc_slot: CardSlot | None = None
    pin_pad: VirtualPinPad | None = None
    printer: VirtualPrinter | None = None
    # Where the cashier scans codes: in process, through a pty (scanner_link), or a
    # keyboard wedge (wedge).
    scanner: VirtualScanner | PtyScannerHand | WedgeHand | None = None
    speaker: VirtualSpeaker | None = None
    magstripe_reader: VirtualMagstripeReader | None = None
    # Every transport feeds the printer through its port (fault injection);
    # printer_server is what carries the bytes (USB backend, pty, TCP listener)
    # when the terminal does not reach the printer in process.
    printer_port: PrinterPort | None = None
    printer_server: VirtualUsbPrinterBackend | PtyPrinter | TcpPrinter | None = None
    # A user-space pyusb backend the usb:// printer driver finds devices on.
    usb_backend: VirtualUsbPrinterBackend | None = None
    # The cardholders' cards: one stateful card per image (ATC, PIN tries).
    wallet: dict[str, VirtualCard] = attrs.field(factory=dict)
    _owned: contextlib.ExitStack = attrs.field(factory=contextlib.ExitStack, init=False)

    def own(self, close: Callable[[], None]) -> None:
        """Call ``close`` when the world closes (servers: last opened, first closed)."""
        self._owned.callback(close)

    def close(self) -> None:
        """Close what the world owns; a world can be closed more than once."""
        self._owned.close()

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
