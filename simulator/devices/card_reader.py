"""The in-process card reader: a :class:`CardReader` whose slot holds a
:class:`VirtualCard` directly (no pcscd), for speed and for machines without
PC/SC. The simulation side inserts and removes cards; the terminal side sees
only the :class:`CardReader` driver interface.
"""

from __future__ import annotations

import threading

from drivers.card_reader import CardInterface, CardPresented, CardReader, mute_card_error
from drivers.clock import Clock
from drivers.errors import CardError, CardProtocolError, CardRemoved, NoCard
from simulator.devices.card_slot import HeldCard


class SimCardReader(CardReader):
    def __init__(
        self,
        clock: Clock,
        *,
        name: str = "possim virtual reader",
        interface: CardInterface = CardInterface.CONTACT,
    ) -> None:
        self.name = name
        self.interface = interface
        self._presentations = 0  # cards put in the slot or field so far
        self._clock = clock
        self._lock = threading.Lock()
        self._card: HeldCard | None = None
        self._atr = b""
        # True between connect() and disconnect(): a card leaving the slot then
        # is a removal in the middle of a transaction, not just "no card".
        self._session = False
        # Fault hook: APDUs still answered before the card is pulled (None: never).
        self._remove_after: int | None = None

    # -- the simulation side ----------------------------------------------------

    def insert(self, card: HeldCard) -> None:
        """Put ``card`` in the slot; the reader powers it up."""
        with self._lock:
            if self._card is not None:
                raise CardError(f"{self.name}: a card is already in the slot; remove it first")
            card.in_field = self.interface is CardInterface.CONTACTLESS
            self._presentations += 1
            self._atr = card.power_on()
            self._card = card
        self._clock.notify()

    def remove(self) -> HeldCard | None:
        """Pull the card out (at any moment, even mid-transaction)."""
        with self._lock:
            card, self._card = self._card, None
            self._atr = b""
        if card is not None:
            card.power_off()
            card.in_field = False
        self._clock.notify()
        return card

    def remove_after(self, apdus: int | None) -> None:
        """Fault hook: the card is pulled out after answering ``apdus`` more
        commands (the next one raises ``CardRemoved``); None cancels it."""
        with self._lock:
            self._remove_after = apdus

    @property
    def inserted_card(self) -> HeldCard | None:
        return self._card

    def wait_for_removal(self, timeout: float | None) -> bool:
        """Block until the slot is empty; False on timeout."""
        return self._clock.wait_until(lambda: self._card is None, timeout)

    # -- CardReader ----------------------------------------------------------------

    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        if not self._clock.wait_until(lambda: self._card is not None, timeout):
            return None
        with self._lock:
            if self._card is None:  # removed again in between
                return None
            return CardPresented(self.interface, self._atr)

    def card_present(self) -> bool:
        return self._card is not None

    def presentation(self) -> int | None:
        with self._lock:
            return None if self._card is None else self._presentations

    def connect(self) -> bytes:
        with self._lock:
            if self._card is None:
                raise NoCard(f"{self.name}: no card in the slot")
            self._atr = self._card.power_on()
            if self._card.mute:
                # What a reader does with a card that gives no ATR: power-up fails, and
                # no APDU ever reaches the card (drivers.pcsc_card_reader does the same).
                raise mute_card_error(self.name)
            self._session = True
            return self._atr

    def disconnect(self) -> None:
        with self._lock:
            self._session = False
            if self._card is not None:
                self._card.power_off()

    def _transmit_raw(self, apdu: bytes) -> bytes:
        with self._lock:
            pull = self._remove_after == 0 and self._card is not None
            if self._remove_after is not None and self._card is not None and not pull:
                self._remove_after -= 1
        if pull:
            self._remove_after = None
            self.remove()
        with self._lock:
            card = self._card
            if card is None:
                if self._session:
                    raise CardRemoved(f"{self.name}: the card was removed during the transaction")
                raise NoCard(f"{self.name}: no card in the slot")
            if not card.powered:
                raise CardProtocolError(f"{self.name}: the card is not powered; connect() first")
            return card.process_apdu(apdu)

    def close(self) -> None:
        self.disconnect()
