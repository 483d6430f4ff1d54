"""What every part of :class:`~simulator.hands.Hands` stands on: the shop's parts,
the one typed error for a device that is real, and the lookups that raise it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from simulator.errors import SimulatorError
from simulator.terminal.qr_link import QrLink, QrLinkError

if TYPE_CHECKING:
    from simulator.clock import VirtualClock
    from simulator.devices.card_slot import CardSlot
    from simulator.devices.magstripe_reader import VirtualMagstripeReader
    from simulator.devices.pin_pad import VirtualPinPad
    from simulator.devices.printer.port import PrinterPort
    from simulator.devices.scanner import VirtualScanner
    from simulator.devices.scanner_link import PtyScannerHand
    from simulator.devices.wedge import WedgeHand
    from simulator.devices.world import SimulatedWorld
    from simulator.events import EventBus
    from simulator.gateway.builtin import BuiltinGateway
    from simulator.terminal.terminal import Terminal


class NotSimulated(SimulatorError):
    """The device is real (not ``sim://``): a person's action on it cannot be simulated.

    ``device`` names it as a person would ("printer"), ``url`` is where the
    terminal reaches it, ``action`` what was asked ("pull its paper").
    """

    def __init__(self, device: str, url: str, action: str, *, hint: str = "") -> None:
        self.device = device
        self.url = url
        self.action = action
        hint = hint or f"a sim:// {device} can"
        super().__init__(f"the {device} is {url}, not simulated: cannot {action} ({hint})")


H = TypeVar("H", bound="HandsBase")


class HandsError(SimulatorError):
    """The shop has no part to act on (no QR gateway, no notify receiver ...)."""


@attrs.frozen
class HandsBase:
    """The parts the hands reach; ``actor`` is who the events they publish name
    (``scenario`` for a scenario's steps, ``counter`` for the TUI's person)."""

    world: SimulatedWorld
    terminal: Terminal
    gateway: BuiltinGateway
    bus: EventBus
    clock: VirtualClock
    actor: str = "scenario"

    def by(self: H, actor: str) -> H:
        """The same hands, publishing their events as ``actor``."""
        return attrs.evolve(self, actor=actor)

    # -- the simulated devices, or NotSimulated -------------------------------------

    def _url(self, field: str) -> str:
        return str(getattr(self.terminal.config.devices, field))

    def _card_slot(self, action: str) -> CardSlot:
        slot = self.world.card_slot
        if slot is None:
            raise NotSimulated(
                "card reader",
                self._url("card_reader"),
                action,
                hint="a sim:// card reader or --card-transport pcsc can",
            )
        return slot

    def _picc_slot(self, action: str) -> CardSlot:
        slot = self.world.picc_slot
        if slot is None:
            url = self._url("contactless_reader") or "none"
            raise NotSimulated(
                "contactless reader",
                url,
                action,
                hint="a sim://?interface=contactless reader or --card-transport pcsc can",
            )
        return slot

    def _pin_pad(self, action: str) -> VirtualPinPad:
        pad = self.world.pin_pad
        if pad is None:
            raise NotSimulated("PIN pad", self._url("pin_entry"), action)
        return pad

    def _magstripe_reader(self, action: str) -> VirtualMagstripeReader:
        reader = self.world.magstripe_reader
        if reader is None:
            raise NotSimulated("magstripe reader", self._url("magstripe_reader"), action)
        return reader

    def _scanner(self, action: str) -> VirtualScanner | PtyScannerHand | WedgeHand:
        scanner = self.world.scanner
        if scanner is None:
            raise NotSimulated("scanner", self._url("scanner"), action)
        return scanner

    def _printer_port(self, action: str) -> PrinterPort:
        port = self.world.printer_port
        if port is None:
            raise NotSimulated("printer", self._url("printer"), action)
        return port

    def _qr_link(self) -> QrLink:
        link = self.terminal.qr_link
        if link is None:
            raise HandsError("the terminal has no QR gateway (the built-in gateway serves none)")
        return link

    def _sim_call(self, action: str, body: Mapping[str, Any]) -> None:
        """``POST /v1/sim/<action>`` on the terminal's QR gateway, the way a customer's
        phone (or the channel, replaying a notify) reaches it (docs/qr_api.md): not the
        terminal's traffic, so it stays out of the event stream -- its answer would
        race the notify it triggers."""
        link = self._qr_link()
        phone = QrLink(
            link.base_url,
            merchant_id=link.merchant_id,
            terminal_id=link.terminal_id,
            api_key=self.terminal.config.keys.merchant_api_key,
            bus=None,
        )
        try:
            phone.sim(action, body)
        except QrLinkError as exc:
            raise HandsError(f"/v1/sim/{action}: {exc}") from None
