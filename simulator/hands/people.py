"""The people at the counter: the cashier, the cardholder and the customer with a phone."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

from drivers.printer import PrintDocument
from simulator.devices.card import CollidingCards
from simulator.devices.mifare import MifareClassic1K
from simulator.events import EventPayload
from simulator.hands.base import HandsBase, HandsError

if TYPE_CHECKING:
    from simulator.devices.card_image import CardImage
    from simulator.terminal.terminal import SaleHandle


@attrs.frozen
class CardTapped(EventPayload):
    """The cardholder held a card (or a phone) to the contactless field."""

    kind: ClassVar[str] = "tap"

    card: str
    phone: bool

    def summary(self) -> str:
        return f"{'phone' if self.phone else 'card'} {self.card} tapped"


class Cashier(HandsBase):
    """The cashier works the cashier app (the terminal under test)."""

    def start_sale(self, amount_fen: int, method: str = "card", issuance: str = "") -> SaleHandle:
        """Key in ``amount_fen`` and pay by ``method`` (card, scan or a QR channel)."""
        return self.terminal.start_sale(amount_fen, method, issuance)

    def start_refund(self, order: str, amount_fen: int, method: str) -> SaleHandle:
        """Refund (part of) payment ``order`` (a QR out_trade_no, card order number or RRN)."""
        return self.terminal.start_refund(order, amount_fen, method)

    def start_void(self, order: str, amount_fen: int, method: str) -> SaleHandle:
        """Void payment ``order`` in full, the same day."""
        return self.terminal.start_void(order, amount_fen, method)

    def start_preauth(
        self,
        operation: str,
        amount_fen: int,
        order: str = "",
        *,
        orig_auth_code: str = "",
        orig_date: str = "",
    ) -> SaleHandle:
        """A card pre-auth, or a follow-up (completion, pre-auth void, completion
        void) of the pre-auth or completion ``order``."""
        return self.terminal.start_preauth(
            operation, amount_fen, order, orig_auth_code=orig_auth_code, orig_date=orig_date
        )

    def start_settlement(self) -> SaleHandle:
        """Close the card batch."""
        return self.terminal.start_settlement()

    def cancel_payment(self) -> bool:
        """CANCEL on the terminal: False when nothing is in progress; raises
        :class:`~simulator.terminal.cashier_cancel.CancelRefused` when it cannot be
        cancelled now."""
        return self.terminal.cancel()

    def print_on_terminal(self, document: PrintDocument) -> None:
        """Print ``document`` on the terminal's printer (whatever its transport)."""
        with self.clock.actor():
            self.terminal.printer.print_document(document)


class Cardholder(HandsBase):
    """The cardholder: the card slot, the magnetic stripe and the PIN pad."""

    def insert_card(self, image: CardImage) -> None:
        """Put the card ``image`` describes in the slot (the same card every time: its
        counters and PIN tries carry over)."""
        slot = self._card_slot("insert a card")
        slot.insert(self.world.card(image))

    def tap_card(self, image: CardImage) -> None:
        """Hold the card (or phone) ``image`` describes to the reader's contactless
        field -- a new tap: a card still in the field from an earlier tap leaves it
        first. The card stays in the field until the next tap or :meth:`remove_card`."""
        if not image.contactless:
            raise HandsError(f"card {image.name} has no antenna: it cannot be tapped")
        slot = self._picc_slot("tap a card")
        slot.remove()
        card = self.world.card(image)
        self.bus.publish(CardTapped(image.name, image.wallet), source=self.actor)
        slot.insert(card)

    def hold_storage_card(self, card: MifareClassic1K) -> None:
        """Hold a storage card (a MIFARE Classic membership card) to the contactless field;
        it stays until the next tap or :meth:`remove_card`. The cashier app, not the
        acquiring app, reads such cards (PC/SC Part 3 pseudo-APDUs)."""
        slot = self._picc_slot("hold a storage card to the reader")
        slot.remove()
        self.bus.publish(CardTapped(card.name, False), source=self.actor)
        slot.insert(card)

    def tap_cards_together(self, first: CardImage, second: CardImage) -> None:
        """Two cards in the field at once: a collision; the reader can activate neither."""
        slot = self._picc_slot("tap two cards")
        slot.remove()
        self.bus.publish(CardTapped(f"{first.name} + {second.name}", False), source=self.actor)
        slot.insert(CollidingCards(first))

    def remove_card(self) -> bool:
        """Take the card out of the slot (or, with none there, out of the contactless
        field); False when both were empty."""
        for slot in (self.world.card_slot, self.world.picc_slot):
            if slot is not None and slot.inserted_card is not None:
                return slot.remove() is not None
        return self._card_slot("take a card out").remove() is not None

    def swipe_card(self, image: CardImage) -> None:
        """Swipe the card's magnetic stripe (its track 2)."""
        self._magstripe_reader("swipe a card").swipe(image)

    def press(self, key: str) -> bool:
        """Press one PIN pad key (a digit, OK, CLR, CANCEL); False when the pad is not
        listening (the terminal asks for neither a PIN nor a choice)."""
        return self._pin_pad("press its keys").press(key)

    def type_pin(self, digits: str) -> bool:
        """Type ``digits`` and press OK; False when the pad is not listening."""
        return self._pin_pad("type a PIN").type_pin(digits)


class Customer(HandsBase):
    """A customer's phone, talking to the gateway's simulation API (``/v1/sim/*``)."""

    def customer_pays_qr(self, qr_payload: str, wallet: str) -> None:
        """Scan the dynamic QR ``qr_payload`` with ``wallet`` and pay."""
        self._sim_call("customer/pay_qr", {"qr_payload": qr_payload, "wallet": wallet})

    def customer_confirms(self, out_trade_no: str) -> None:
        """Confirm the waiting (USERPAYING) payment ``out_trade_no`` on the phone."""
        self._sim_call("customer/confirm", {"out_trade_no": out_trade_no})

    def customer_cancels(self, out_trade_no: str) -> None:
        """Cancel the waiting (USERPAYING) payment ``out_trade_no`` on the phone."""
        self._sim_call("customer/cancel", {"out_trade_no": out_trade_no})
