"""The people at the counter: the cashier, the cardholder and the customer with a phone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.printer import PrintDocument
from simulator.hands.base import HandsBase

if TYPE_CHECKING:
    from simulator.devices.card_image import CardImage
    from simulator.terminal.terminal import SaleHandle


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

    def remove_card(self) -> bool:
        """Take the card out of the slot; False when it was empty."""
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
