"""The cardholder's side of a card reader: what scenarios and simulations act on.

Two implementations: the in-process :class:`~simulator.devices.card_reader.SimCardReader`
(the card sits right in the driver) and
:class:`~simulator.devices.vpcd_card.VpcdCardSlot` (the card sits behind vpcd
and the real PC/SC stack). Code that inserts or removes cards depends on this
protocol only, so a scenario runs unchanged over either transport.
"""

from __future__ import annotations

from typing import Protocol


class HeldCard(Protocol):
    """What a cardholder holds to a reader: a :class:`~simulator.devices.card.VirtualCard`
    (an EMV card or a phone), or a storage card (:mod:`simulator.devices.mifare`)."""

    in_field: bool  # set by a PICC slot: the card is in a contactless field
    powered: bool

    @property
    def mute(self) -> bool: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def process_apdu(self, apdu: bytes) -> bytes: ...


# How the terminal's card reader reaches the virtual card: "sim" in process (the
# reader is the slot), "pcsc" through a private pcscd + vpcd (the real PC/SC stack,
# docs/pcsc.md; the slot is a VpcdCardSlot).
CARD_TRANSPORTS = ("sim", "pcsc")


class CardSlot(Protocol):
    @property
    def name(self) -> str:
        """The reader the slot belongs to, as the terminal sees it."""

    @property
    def inserted_card(self) -> HeldCard | None:
        """The card in the slot, if any."""

    def insert(self, card: HeldCard) -> None:
        """Put ``card`` in; returns once the terminal's reader can see it."""

    def remove(self) -> HeldCard | None:
        """Take the card out (at any moment, even mid-transaction); returns it."""

    def wait_for_removal(self, timeout: float | None) -> bool:
        """Block (on the simulation's clock) until the slot is empty; False on timeout."""

    def remove_after(self, apdus: int | None) -> None:
        """Fault hook: the card is pulled out after answering ``apdus`` more commands
        (the next one finds the slot empty); ``None`` disarms it."""
